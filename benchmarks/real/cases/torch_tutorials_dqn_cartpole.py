"""pytorch/tutorials `intermediate_source/reinforcement_q_learning.py`: DQN on CartPole-v1 (gymnasium version).

Ported (re-written to the same networks, replay memory, epsilon-greedy schedule, loss, optimizer, clipping,
soft target update and loop): gymnasium is not installed, so ``gym.make("CartPole-v1")`` becomes
``_data.gym_make_cartpole()``, a stand-in with the same dynamics, reset / step API, rewards and 500-step limit.
The policy and target networks are Linear(4, 128) -> ReLU -> Linear(128, 128) -> ReLU -> Linear(128, 2);
transitions go into a ReplayMemory(10000) deque; every environment step samples a batch of 128, computes
Q(s, a) with the policy net and r + GAMMA * max_a' Q_target(s', a') (0 for terminal s') with the target net,
minimizes nn.SmoothL1Loss with AdamW(lr=LR, amsgrad=True) after clip_grad_value_(100), then soft-updates the
target net with TAU. At most 100 episodes and no new episode after 5,000 environment steps (the tutorial runs
600 episodes, or 50 on CPU); after training the greedy policy plays a few evaluation episodes.
"""

import argparse
import math
import random
from collections import deque, namedtuple
from itertools import count

import _data
import _harness
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn, optim

parser = argparse.ArgumentParser(description="PyTorch DQN tutorial")
parser.add_argument("--num-episodes", type=int, default=100)
parser.add_argument("--max-steps", type=int, default=5000)
parser.add_argument("--eval-episodes", type=int, default=5)
args = parser.parse_args()

env = _data.gym_make_cartpole()
seed = _harness.seed_everything()
env.reset(seed=seed)
device = torch.device("cpu")

Transition = namedtuple("Transition", ("state", "action", "next_state", "reward"))


class ReplayMemory:
    def __init__(self, capacity):
        self.memory = deque([], maxlen=capacity)

    def push(self, *args):
        """Save a transition"""
        self.memory.append(Transition(*args))

    def sample(self, batch_size):
        return random.sample(self.memory, batch_size)

    def __len__(self):
        return len(self.memory)


class DQN(nn.Module):
    def __init__(self, n_observations, n_actions):
        super().__init__()
        self.layer1 = nn.Linear(n_observations, 128)
        self.layer2 = nn.Linear(128, 128)
        self.layer3 = nn.Linear(128, n_actions)

    # Called with either one element to determine next action, or a batch during optimization.
    def forward(self, x):
        x = F.relu(self.layer1(x))
        x = F.relu(self.layer2(x))
        return self.layer3(x)


BATCH_SIZE = 128
GAMMA = 0.99
EPS_START = 0.9
EPS_END = 0.01
EPS_DECAY = 2500
TAU = 0.005
LR = 3e-4

n_actions = 2  # env.action_space.n
state, info = env.reset()
n_observations = len(state)

policy_net = DQN(n_observations, n_actions).to(device)
target_net = DQN(n_observations, n_actions).to(device)
target_net.load_state_dict(policy_net.state_dict())

optimizer = optim.AdamW(policy_net.parameters(), lr=LR, amsgrad=True)
memory = ReplayMemory(10000)
steps_done = 0
losses = []


def select_action(state):
    global steps_done
    sample = random.random()
    eps_threshold = EPS_END + (EPS_START - EPS_END) * math.exp(-1.0 * steps_done / EPS_DECAY)
    steps_done += 1
    if sample > eps_threshold:
        with torch.no_grad():
            # pick the action with the larger expected reward
            return policy_net(state).max(1).indices.view(1, 1)
    return torch.tensor([[random.randrange(n_actions)]], device=device, dtype=torch.long)


def optimize_model():
    if len(memory) < BATCH_SIZE:
        return
    transitions = memory.sample(BATCH_SIZE)
    batch = Transition(*zip(*transitions, strict=True))

    non_final_mask = torch.tensor(tuple(s is not None for s in batch.next_state), device=device,
                                  dtype=torch.bool)
    non_final_next_states = torch.cat([s for s in batch.next_state if s is not None])
    state_batch = torch.cat(batch.state)
    action_batch = torch.cat(batch.action)
    reward_batch = torch.cat(batch.reward)

    # Q(s_t, a) for the actions taken
    state_action_values = policy_net(state_batch).gather(1, action_batch)
    # V(s_{t+1}) from the "older" target_net; 0 for final states
    next_state_values = torch.zeros(BATCH_SIZE, device=device)
    with torch.no_grad():
        next_state_values[non_final_mask] = target_net(non_final_next_states).max(1).values
    expected_state_action_values = (next_state_values * GAMMA) + reward_batch

    criterion = nn.SmoothL1Loss()
    loss = criterion(state_action_values, expected_state_action_values.unsqueeze(1))

    optimizer.zero_grad()
    loss.backward()
    # In-place gradient clipping
    torch.nn.utils.clip_grad_value_(policy_net.parameters(), 100)
    optimizer.step()
    losses.append(loss.item())


episode_durations = []
for i_episode in range(args.num_episodes):
    state, info = env.reset()
    state = torch.tensor(state, dtype=torch.float32, device=device).unsqueeze(0)
    for t in count():
        action = select_action(state)
        observation, reward, terminated, truncated, _ = env.step(action.item())
        reward = torch.tensor([reward], device=device)
        done = terminated or truncated

        if terminated:
            next_state = None
        else:
            next_state = torch.tensor(observation, dtype=torch.float32, device=device).unsqueeze(0)

        memory.push(state, action, next_state, reward)
        state = next_state

        # Perform one step of the optimization (on the policy network)
        optimize_model()

        # Soft update of the target network's weights: theta' <- tau * theta + (1 - tau) * theta'
        target_net_state_dict = target_net.state_dict()
        policy_net_state_dict = policy_net.state_dict()
        for key in policy_net_state_dict:
            target_net_state_dict[key] = policy_net_state_dict[key] * TAU + target_net_state_dict[key] * (1 - TAU)
        target_net.load_state_dict(target_net_state_dict)

        if done:
            episode_durations.append(t + 1)
            break
    if (i_episode + 1) % 10 == 0:
        print(f"Episode {i_episode + 1}\tlast 10 durations: {episode_durations[-10:]}\tsteps {steps_done}")
    if steps_done >= args.max_steps:  # the port's time budget: no new episode after this many steps
        break

# Evaluation (not in the tutorial, which plots the training durations): the greedy policy's episode length.
eval_lengths = []
with torch.no_grad():
    for _ in range(args.eval_episodes):
        state, info = env.reset()
        for t in count():
            action = policy_net(torch.tensor(state, dtype=torch.float32).unsqueeze(0)).max(1).indices.item()
            state, reward, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                eval_lengths.append(t + 1)
                break
mean_length = sum(eval_lengths) / len(eval_lengths)
print("greedy evaluation episode lengths:", eval_lengths)
_harness.report(metric=mean_length, metric_name="greedy_episode_length",
                chance=_data.cartpole_random_policy_length(seed), losses=losses,
                episodes=len(episode_durations), steps=steps_done)
