"""pytorch/examples `reinforcement_learning/actor_critic.py`: a one-step-per-episode actor-critic on CartPole-v1.

Ported (re-written to the same model, optimizer, discounting, return normalization, losses and loop):
gymnasium is not installed, so ``gym.make('CartPole-v1')`` becomes ``_data.gym_make_cartpole()``, a stand-in
with the same dynamics, reset / step API, rewards and 500-step limit. One network: Linear(4, 128) + ReLU
shared by the actor head (Linear(128, 2) -> softmax) and the critic head (Linear(128, 1)); actions are sampled
from a Categorical; after every episode the discounted returns (gamma 0.99) are normalized, the actor loss is
``-log_prob * (return - value.item())`` and the critic loss ``smooth_l1_loss(value, return)``, their sums are
added and minimized with Adam lr 3e-2. The original runs until its running reward passes 475; this port stops
there or after 120 episodes.
"""

import argparse
from collections import namedtuple
from itertools import count

import _data
import _harness
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn, optim
from torch.distributions import Categorical

parser = argparse.ArgumentParser(description="PyTorch actor-critic example")
parser.add_argument("--gamma", type=float, default=0.99)
parser.add_argument("--log-interval", type=int, default=10)
parser.add_argument("--max-episodes", type=int, default=120)
args = parser.parse_args()

seed = _harness.seed_everything()
env = _data.gym_make_cartpole()
env.reset(seed=seed)

SavedAction = namedtuple("SavedAction", ["log_prob", "value"])


class Policy(nn.Module):
    """Actor and critic in one model."""

    def __init__(self):
        super().__init__()
        self.affine1 = nn.Linear(4, 128)
        self.action_head = nn.Linear(128, 2)  # actor
        self.value_head = nn.Linear(128, 1)  # critic
        self.saved_actions = []
        self.rewards = []

    def forward(self, x):
        x = F.relu(self.affine1(x))
        action_prob = F.softmax(self.action_head(x), dim=-1)
        state_values = self.value_head(x)
        return action_prob, state_values


model = Policy()
optimizer = optim.Adam(model.parameters(), lr=3e-2)
eps = np.finfo(np.float32).eps.item()
losses = []


def select_action(state):
    probs, state_value = model(torch.from_numpy(state).float())
    m = Categorical(probs)
    action = m.sample()
    model.saved_actions.append(SavedAction(m.log_prob(action), state_value))
    return action.item()


def finish_episode():
    ret = 0
    policy_losses = []
    value_losses = []
    returns = []
    for r in model.rewards[::-1]:
        ret = r + args.gamma * ret
        returns.insert(0, ret)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + eps)
    for (log_prob, value), ret in zip(model.saved_actions, returns, strict=True):
        advantage = ret - value.item()
        policy_losses.append(-log_prob * advantage)
        value_losses.append(F.smooth_l1_loss(value, torch.tensor([ret])))
    optimizer.zero_grad()
    loss = torch.stack(policy_losses).sum() + torch.stack(value_losses).sum()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    del model.rewards[:]
    del model.saved_actions[:]


def main():
    running_reward = 10
    for i_episode in count(1):
        state, _ = env.reset()
        ep_reward = 0
        for t in range(1, 10000):  # don't loop forever while learning
            action = select_action(state)
            state, reward, terminated, truncated, _ = env.step(action)
            model.rewards.append(reward)
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
