"""pytorch/examples `reinforcement_learning/reinforce.py` as it was before commit ca90734 ("Fix bugs and
improve performance", Sam Gross): REINFORCE on CartPole-v0.

Buggy: ``finish_episode`` computes the discounted returns (gamma 0.99) and normalizes them, then loops
``for log_prob, r in zip(policy.saved_actions, rewards)`` but accumulates ``policy_loss -= (log_prob *
reward).sum()`` -- ``reward`` is not the loop variable but the module-level variable the main loop assigns
from ``env.step`` (always 1.0 in CartPole). The normalized returns are never used: every step's sampled action
gets the same weight, so the update only raises the likelihood of whatever the policy did. Fixed, as in the
commit: the loop variable is named ``reward`` (``for log_prob, reward in zip(policy.saved_log_probs,
rewards)``), so each log-probability is weighted by its own normalized return (the commit also collects the
terms in a list and sums them with ``torch.cat(policy_loss).sum()``, the same value).

Ported (re-written with the same policy, optimizer, discounting, normalization, loss and loop): policy
Linear(4, 128) -> ReLU -> Linear(128, 2) -> softmax(dim=1); actions sampled from the policy's categorical
distribution (torch 0.3's ``Multinomial(probs)``, today's ``Categorical``) with their log-probabilities saved;
Adam lr 1e-2; after every episode one update; a running reward ``0.99 * running + 0.01 * t`` (t the last step
index) that stops the run once it passes CartPole-v0's reward threshold 195. gym is not installed:
``gym.make('CartPole-v0')`` becomes ``_data.gym_make_cartpole()`` (gymnasium's CartPole dynamics) with
CartPole-v0's 200-step limit; the seed comes from the benchmark (the original: 543); at most 250 episodes.
"""

from itertools import count

import _data
import _harness
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn, optim
from torch.distributions import Categorical

GAMMA = 0.99
LOG_INTERVAL = 10
MAX_EPISODES = 250  # the original runs until solved
REWARD_THRESHOLD = 195.0  # CartPole-v0's env.spec.reward_threshold

seed = _harness.seed_everything()
env = _data.gym_make_cartpole()
env.max_episode_steps = 200  # CartPole-v0's TimeLimit (the stand-in defaults to CartPole-v1's 500)
env.reset(seed=seed)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.affine1 = nn.Linear(4, 128)
        self.affine2 = nn.Linear(128, 2)
        self.saved_actions = []
        self.rewards = []

    def forward(self, x):
        x = F.relu(self.affine1(x))
        action_scores = self.affine2(x)
        return F.softmax(action_scores, dim=1)


policy = Policy()
optimizer = optim.Adam(policy.parameters(), lr=1e-2)
losses = []
reward = 0.0  # assigned by the main loop from env.step, as the original's module-level loop does


def select_action(state):
    state = torch.from_numpy(state).float().unsqueeze(0)
    probs = policy(state)
    m = Categorical(probs)
    action = m.sample()
    policy.saved_actions.append(m.log_prob(action))
    return action.item()


def finish_episode():
    R = 0
    policy_loss = 0
    rewards = []
    for r in policy.rewards[::-1]:
        R = r + GAMMA * R
        rewards.insert(0, R)
    rewards = torch.tensor(rewards)
    rewards = (rewards - rewards.mean()) / (rewards.std() + np.finfo(np.float32).eps)
    for log_prob, r in zip(policy.saved_actions, rewards, strict=True):
        weight = reward if _harness.buggy() else r  # the bug: the global `reward`, not the normalized return r
        policy_loss -= (log_prob * weight).sum()
    optimizer.zero_grad()
    policy_loss.backward()
    optimizer.step()
    losses.append(policy_loss.item())
    del policy.rewards[:]
    del policy.saved_actions[:]


running_reward = 10
for i_episode in count(1):
    state, _ = env.reset()
    for t in range(10000):  # Don't infinite loop while learning
        action = select_action(state)
        state, reward, terminated, truncated, _ = env.step(action)
        policy.rewards.append(reward)
        if terminated or truncated:
            break

    running_reward = running_reward * 0.99 + t * 0.01
    finish_episode()
    if i_episode % LOG_INTERVAL == 0:
        print(f'Episode {i_episode}\tLast length: {t:5d}\tAverage length: {running_reward:.2f}')
    if running_reward > REWARD_THRESHOLD:
        print(f"Solved! Running reward is now {running_reward} and the last episode runs to {t} time steps!")
        break
    if i_episode >= MAX_EPISODES:
        break

_harness.report(metric=running_reward, metric_name="running_reward (0.01 EMA of episode length - 1)",
                chance=_data.cartpole_random_policy_length(seed), losses=losses, episodes=i_episode)
