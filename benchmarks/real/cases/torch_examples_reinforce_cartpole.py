"""pytorch/examples `reinforcement_learning/reinforce.py`: REINFORCE on CartPole-v1.

Ported (re-written to the same policy, optimizer, discounting, return normalization, loss and loop): gymnasium
is not installed, so ``gym.make('CartPole-v1')`` becomes ``_data.gym_make_cartpole()``, a stand-in with the
same dynamics, reset / step API, rewards and 500-step limit. The policy is Linear(4, 128) -> Dropout(0.6) ->
ReLU -> Linear(128, 2) -> softmax; actions are sampled from a Categorical; after every episode the
discounted returns (gamma 0.99) are normalized and ``sum(-log_prob * return)`` is minimized with Adam lr 1e-2.
The original runs until its running reward passes 475; this port stops there or after 120 episodes.
"""

import argparse
from collections import deque
from itertools import count

import _data
import _harness
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn, optim
from torch.distributions import Categorical

parser = argparse.ArgumentParser(description="PyTorch REINFORCE example")
parser.add_argument("--gamma", type=float, default=0.99)
parser.add_argument("--log-interval", type=int, default=10)
parser.add_argument("--max-episodes", type=int, default=120)
args = parser.parse_args()

seed = _harness.seed_everything()
env = _data.gym_make_cartpole()
env.reset(seed=seed)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.affine1 = nn.Linear(4, 128)
        self.dropout = nn.Dropout(p=0.6)
        self.affine2 = nn.Linear(128, 2)
        self.saved_log_probs = []
        self.rewards = []

    def forward(self, x):
        x = self.affine1(x)
        x = self.dropout(x)
        x = F.relu(x)
        return F.softmax(self.affine2(x), dim=1)


policy = Policy()
optimizer = optim.Adam(policy.parameters(), lr=1e-2)
eps = np.finfo(np.float32).eps.item()
losses = []


def select_action(state):
    probs = policy(torch.from_numpy(state).float().unsqueeze(0))
    m = Categorical(probs)
    action = m.sample()
    policy.saved_log_probs.append(m.log_prob(action))
    return action.item()


def finish_episode():
    ret = 0
    returns = deque()
    for r in policy.rewards[::-1]:
        ret = r + args.gamma * ret
        returns.appendleft(ret)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + eps)
    policy_loss = [-log_prob * ret for log_prob, ret in zip(policy.saved_log_probs, returns, strict=True)]
    optimizer.zero_grad()
    policy_loss = torch.cat(policy_loss).sum()
    policy_loss.backward()
    optimizer.step()
    losses.append(policy_loss.item())
    del policy.rewards[:]
    del policy.saved_log_probs[:]


def main():
    running_reward = 10
    for i_episode in count(1):
        state, _ = env.reset()
        ep_reward = 0
        for t in range(1, 10000):  # Don't infinite loop while learning
            action = select_action(state)
            state, reward, terminated, truncated, _ = env.step(action)
            policy.rewards.append(reward)
            ep_reward += reward
            if terminated or truncated:
                break
        running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
        finish_episode()
        if i_episode % args.log_interval == 0:
            print(f"Episode {i_episode}\tLast reward: {ep_reward:.2f}\tAverage reward: {running_reward:.2f}")
        if running_reward > env.spec.reward_threshold:
            print(f"Solved! Running reward is now {running_reward} and the last episode runs to {t} time steps!")
            break
        if i_episode >= args.max_episodes:
            break
    _harness.report(metric=running_reward, metric_name="running_reward",
                    chance=_data.cartpole_random_policy_length(seed),
                    losses=losses, episodes=i_episode)


if __name__ == "__main__":
    main()
