"""huggingface/deep-rl-class, the REINFORCE hands-on (policy gradient with PyTorch on CartPole-v1) before PR #95
("Fix and improve unit5 REINFORCE computation of the returns", Chris1nexus, commits c9b9e48 and 7c06423).

Buggy: after each episode ``reinforce`` computes one number, the discounted return of the whole episode
``R = sum(gamma**i * r_i)`` (``discounts = [gamma**i for i in range(len(rewards)+1)]``), and weights every
step's log-probability with it: ``policy_loss = sum(-log_prob * R)``. Every sampled action of an episode is
pushed up by the same, always positive amount (the episode length, gamma being 1), whatever came after it.
Fixed, as in the PR: the return from each step on, ``G_t = r_t + gamma * G_{t+1}``, computed backwards into a
deque, standardized over the episode ((G - mean) / (std + float32 eps)), and ``policy_loss = sum(-log_prob_t *
G_t)``.

Ported (re-written with the hands-on's policy, optimizer, hyper-parameters, loop and evaluation): ``Policy``
Linear(4, 16) -> ReLU -> Linear(16, 2) -> softmax(dim=1), ``act`` samples from a Categorical and returns the
action and its log-probability; Adam lr 1e-2; gamma 1.0; max_t 1000; one update per episode
(``optimizer.zero_grad()``, ``policy_loss.backward()``, ``optimizer.step()``); ``evaluate_agent`` plays 10
evaluation episodes with the (sampling) policy and returns the mean and standard deviation of their rewards.
gym is not installed: ``gym.make("CartPole-v1")`` (training and evaluation environments) becomes
``_data.gym_make_cartpole()``; 200 training episodes instead of 1000; no Hugging Face Hub upload or video.
"""

from collections import deque

import _data
import _harness
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn, optim
from torch.distributions import Categorical

seed = _harness.seed_everything()
device = torch.device("cpu")

env = _data.gym_make_cartpole()
eval_env = _data.gym_make_cartpole()
env.reset(seed=seed)
eval_env.reset(seed=seed + 1)
s_size = 4
a_size = 2


class Policy(nn.Module):
    def __init__(self, s_size, a_size, h_size):
        super().__init__()
        self.fc1 = nn.Linear(s_size, h_size)
        self.fc2 = nn.Linear(h_size, a_size)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.softmax(x, dim=1)

    def act(self, state):
        state = torch.from_numpy(state).float().unsqueeze(0).to(device)
        probs = self.forward(state).cpu()
        m = Categorical(probs)
        action = m.sample()
        return action.item(), m.log_prob(action)


def reinforce(policy, optimizer, n_training_episodes, max_t, gamma, print_every, losses):
    scores_deque = deque(maxlen=100)
    scores = []
    for i_episode in range(1, n_training_episodes + 1):
        saved_log_probs = []
        rewards = []
        state, _ = env.reset()
        for _t in range(max_t):
            action, log_prob = policy.act(state)
            saved_log_probs.append(log_prob)
            state, reward, terminated, truncated, _ = env.step(action)
            rewards.append(reward)
            if terminated or truncated:
                break
        scores_deque.append(sum(rewards))
        scores.append(sum(rewards))

        if _harness.buggy():  # the bug: one return for the whole episode weights every step
            discounts = [gamma ** i for i in range(len(rewards) + 1)]
            R = sum([a * b for a, b in zip(discounts, rewards)])  # noqa: B905 (discounts is one longer)
            policy_loss = []
            for log_prob in saved_log_probs:
                policy_loss.append(-log_prob * R)
        else:  # the fix (PR #95): the standardized return from each step on
            returns = deque(maxlen=max_t)
            n_steps = len(rewards)
            for t in range(n_steps)[::-1]:
                disc_return_t = returns[0] if len(returns) > 0 else 0
                returns.appendleft(gamma * disc_return_t + rewards[t])
            eps = np.finfo(np.float32).eps.item()
            returns = torch.tensor(returns)
            returns = (returns - returns.mean()) / (returns.std() + eps)
            policy_loss = []
            for log_prob, disc_return in zip(saved_log_probs, returns, strict=True):
                policy_loss.append(-log_prob * disc_return)
        policy_loss = torch.cat(policy_loss).sum()

        optimizer.zero_grad()
        policy_loss.backward()
        optimizer.step()
        losses.append(policy_loss.item())

        if i_episode % print_every == 0:
            print(f'Episode {i_episode}\tAverage Score: {np.mean(scores_deque):.2f}')
    return scores


def evaluate_agent(env, max_steps, n_eval_episodes, policy):
    episode_rewards = []
    for _episode in range(n_eval_episodes):
        state, _ = env.reset()
        total_rewards_ep = 0
        for _step in range(max_steps):
            action, _ = policy.act(state)
            new_state, reward, terminated, truncated, _ = env.step(action)
            total_rewards_ep += reward
            if terminated or truncated:
                break
            state = new_state
        episode_rewards.append(total_rewards_ep)
    return np.mean(episode_rewards), np.std(episode_rewards)


cartpole_hyperparameters = {
    "h_size": 16,
    "n_training_episodes": 200,  # the hands-on: 1000
    "n_evaluation_episodes": 10,
    "max_t": 1000,
    "gamma": 1.0,
    "lr": 1e-2,
    "state_space": s_size,
    "action_space": a_size,
}

cartpole_policy = Policy(cartpole_hyperparameters["state_space"], cartpole_hyperparameters["action_space"],
                         cartpole_hyperparameters["h_size"]).to(device)
cartpole_optimizer = optim.Adam(cartpole_policy.parameters(), lr=cartpole_hyperparameters["lr"])
losses = []
scores = reinforce(cartpole_policy, cartpole_optimizer, cartpole_hyperparameters["n_training_episodes"],
                   cartpole_hyperparameters["max_t"], cartpole_hyperparameters["gamma"], 50, losses)
mean_reward, std_reward = evaluate_agent(eval_env, cartpole_hyperparameters["max_t"],
                                         cartpole_hyperparameters["n_evaluation_episodes"], cartpole_policy)
print(f"mean_reward={mean_reward:.2f} +/- {std_reward:.2f}")
_harness.report(metric=float(mean_reward), metric_name="evaluate_agent mean reward (10 episodes)",
                chance=_data.cartpole_random_policy_length(seed), losses=losses, std_reward=float(std_reward))
