"""CleanRL `cleanrl/pqn.py` (PQN: parallelised Q-learning with Q(lambda) targets, LayerNorm Q-network) on
CartPole-v1, as it was before commit 1ed8062 ("Fix: PQN needs to mask the return computation if next state is
done", PR #494).

Buggy: the Q(lambda) targets are computed backwards over the rollout as
``returns[t] = r[t] + gamma * (lambda * returns[t + 1] + (1 - lambda) * next_value * nextnonterminal)``: only the
bootstrap value is masked at an episode end, the lambda-return of the *next* episode (``returns[t + 1]``, the
vector env has already reset) still flows into the last step of the finished one. The pole falling is never
seen as the end of the return. Fixed, as in the commit: the whole bracket is multiplied by
``nextnonterminal``: ``r[t] + gamma * (lambda * returns[t + 1] + (1 - lambda) * next_value) * nextnonterminal``.

Ported (re-written with the same network, targets, optimizer, schedules and loop): QNetwork Linear(4, 120) ->
LayerNorm -> ReLU -> Linear(120, 84) -> LayerNorm -> ReLU -> Linear(84, 2) with orthogonal init (gain sqrt 2,
zero bias); RAdam lr 2.5e-4 annealed linearly to 0 over the iterations; 4 synchronous environments x 128
steps per iteration; epsilon-greedy from 1.0 to 0.05 over half of the timesteps; gamma 0.99, lambda 0.65;
4 epochs of 4 shuffled minibatches of MSE between the targets and Q(s, a); gradient clipping to norm 10.
gymnasium is not installed: ``gym.vector.SyncVectorEnv`` of ``CartPole-v1`` with ``RecordEpisodeStatistics``
becomes a small synchronous vector of ``_data.gym_make_cartpole()`` stand-ins that resets a finished
environment within the same step and reports the finished episode's return (gymnasium 0.29's behaviour).
``total_timesteps`` 500,000 becomes 60,000 (so the exploration and learning-rate schedules, which are
defined in terms of it, are shortened alike); tyro, TensorBoard, wandb and video capture go; the seed comes
from the benchmark. Reported measure: the mean episodic return of the last 20 finished episodes (what the
script prints as ``episodic_return``); chance: the mean episode length of random actions.
"""

import random

import _data
import _harness
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F  # noqa: N812
import torch.optim as optim


class Args:
    seed = _harness.seed()
    total_timesteps = 60000  # CleanRL: 500000
    learning_rate = 2.5e-4
    num_envs = 4
    num_steps = 128
    num_minibatches = 4
    update_epochs = 4
    anneal_lr = True
    gamma = 0.99
    start_e = 1
    end_e = 0.05
    exploration_fraction = 0.5
    max_grad_norm = 10.0
    q_lambda = 0.65


class SyncVectorEnv:
    """gymnasium 0.29's SyncVectorEnv + RecordEpisodeStatistics for the CartPole stand-in: a finished
    environment is reset in the same step; ``infos["final_info"]`` carries the finished episodes' returns."""

    def __init__(self, num_envs):
        self.envs = [_data.gym_make_cartpole() for _ in range(num_envs)]
        self.single_observation_space_shape = (4,)
        self.single_action_space_n = 2
        self.returns = np.zeros(num_envs)
        self.lengths = np.zeros(num_envs, dtype=int)

    def reset(self, seed):
        return np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(self.envs)]), {}

    def step(self, actions):
        obs, rewards, terms, truncs, final_info = [], [], [], [], [None] * len(self.envs)
        for i, (env, action) in enumerate(zip(self.envs, actions, strict=True)):
            o, r, term, trunc, _ = env.step(int(action))
            self.returns[i] += r
            self.lengths[i] += 1
            if term or trunc:
                final_info[i] = {"episode": {"r": self.returns[i], "l": self.lengths[i]}}
                self.returns[i], self.lengths[i] = 0.0, 0
                o, _ = env.reset()
            obs.append(o)
            rewards.append(r)
            terms.append(term)
            truncs.append(trunc)
        infos = {"final_info": final_info} if any(f is not None for f in final_info) else {}
        return np.stack(obs), np.array(rewards), np.array(terms), np.array(truncs), infos


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class QNetwork(nn.Module):
    def __init__(self, envs):
        super().__init__()
        self.network = nn.Sequential(
            layer_init(nn.Linear(int(np.array(envs.single_observation_space_shape).prod()), 120)),
            nn.LayerNorm(120),
            nn.ReLU(),
            layer_init(nn.Linear(120, 84)),
            nn.LayerNorm(84),
            nn.ReLU(),
            layer_init(nn.Linear(84, envs.single_action_space_n)),
        )

    def forward(self, x):
        return self.network(x)


def linear_schedule(start_e: float, end_e: float, duration: int, t: int):
    slope = (end_e - start_e) / duration
    return max(slope * t + start_e, end_e)


args = Args()
args.batch_size = int(args.num_envs * args.num_steps)
args.minibatch_size = int(args.batch_size // args.num_minibatches)
args.num_iterations = args.total_timesteps // args.batch_size

random.seed(args.seed)
np.random.seed(args.seed)
torch.manual_seed(args.seed)
_harness.seed_everything()

envs = SyncVectorEnv(args.num_envs)
q_network = QNetwork(envs)
optimizer = optim.RAdam(q_network.parameters(), lr=args.learning_rate)

obs = torch.zeros((args.num_steps, args.num_envs) + envs.single_observation_space_shape)
actions = torch.zeros((args.num_steps, args.num_envs))
rewards = torch.zeros((args.num_steps, args.num_envs))
dones = torch.zeros((args.num_steps, args.num_envs))
values = torch.zeros((args.num_steps, args.num_envs))

global_step = 0
next_obs, _ = envs.reset(seed=args.seed)
next_obs = torch.Tensor(next_obs)
next_done = torch.zeros(args.num_envs)
episodic_returns, losses = [], []

for iteration in range(1, args.num_iterations + 1):
    if args.anneal_lr:
        frac = 1.0 - (iteration - 1.0) / args.num_iterations
        lrnow = frac * args.learning_rate
        optimizer.param_groups[0]["lr"] = lrnow

    for step in range(0, args.num_steps):
        global_step += args.num_envs
        obs[step] = next_obs
        dones[step] = next_done

        epsilon = linear_schedule(args.start_e, args.end_e, args.exploration_fraction * args.total_timesteps,
                                  global_step)
        random_actions = torch.randint(0, envs.single_action_space_n, (args.num_envs,))
        with torch.no_grad():
            q_values = q_network(next_obs)
            max_actions = torch.argmax(q_values, dim=1)
            values[step] = q_values[torch.arange(args.num_envs), max_actions].flatten()

        explore = torch.rand((args.num_envs,)) < epsilon
        action = torch.where(explore, random_actions, max_actions)
        actions[step] = action

        next_obs, reward, terminations, truncations, infos = envs.step(action.cpu().numpy())
        next_done = np.logical_or(terminations, truncations)
        rewards[step] = torch.tensor(reward).view(-1)
        next_obs, next_done = torch.Tensor(next_obs), torch.Tensor(next_done)

        if "final_info" in infos:
            for info in infos["final_info"]:
                if info and "episode" in info:
                    episodic_returns.append(float(info["episode"]["r"]))

    # Compute Q(lambda) targets
    with torch.no_grad():
        returns = torch.zeros_like(rewards)
        for t in reversed(range(args.num_steps)):
            if t == args.num_steps - 1:
                next_value, _ = torch.max(q_network(next_obs), dim=-1)
                nextnonterminal = 1.0 - next_done
                returns[t] = rewards[t] + args.gamma * next_value * nextnonterminal
            else:
                nextnonterminal = 1.0 - dones[t + 1]
                next_value = values[t + 1]
                if _harness.buggy():  # the bug: the next episode's lambda-return is not masked at an episode end
                    returns[t] = rewards[t] + args.gamma * (
                        args.q_lambda * returns[t + 1] + (1 - args.q_lambda) * next_value * nextnonterminal
                    )
                else:
                    returns[t] = rewards[t] + args.gamma * (
                        args.q_lambda * returns[t + 1] + (1 - args.q_lambda) * next_value
                    ) * nextnonterminal

    b_obs = obs.reshape((-1,) + envs.single_observation_space_shape)
    b_actions = actions.reshape(-1)
    b_returns = returns.reshape(-1)

    b_inds = np.arange(args.batch_size)
    for _epoch in range(args.update_epochs):
        np.random.shuffle(b_inds)
        for start in range(0, args.batch_size, args.minibatch_size):
            end = start + args.minibatch_size
            mb_inds = b_inds[start:end]

            old_val = q_network(b_obs[mb_inds]).gather(1, b_actions[mb_inds].unsqueeze(-1).long()).squeeze()
            loss = F.mse_loss(b_returns[mb_inds], old_val)

            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(q_network.parameters(), args.max_grad_norm)
            optimizer.step()
            losses.append(loss.item())

    if iteration % 20 == 0:
        recent = episodic_returns[-20:]
        print(f"global_step={global_step}, episodic_return={np.mean(recent) if recent else 0:.1f}, "
              f"td_loss={loss.item():.3f}, q_values={old_val.mean().item():.2f}")

last = episodic_returns[-20:]
_harness.report(metric=float(np.mean(last)), metric_name="mean episodic_return of the last 20 episodes",
                chance=_data.cartpole_random_policy_length(args.seed), losses=losses, episodes=len(episodic_returns))
