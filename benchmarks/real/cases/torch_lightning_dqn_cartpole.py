"""Lightning `examples/pytorch/domain_templates/reinforce_learn_Qnet.py` (Deep Reinforcement Learning: Deep
Q-network): a DQN LightningModule on CartPole whose training_step plays one environment step with an
epsilon-greedy agent, then regresses Q(s, a) on r + gamma * max_a' Q_target(s', a') (zero at episode ends,
target computed under no_grad) with nn.MSELoss; the target network is a copy of the net re-synced every
`sync_rate` global steps by load_state_dict; batches come from an IterableDataset that samples the replay
buffer.

Ported (re-written to the same networks, replay buffer, dataset, agent, loss, optimizer, schedule and Trainer):
DQN = Linear(4, 128) / ReLU / Linear(128, 2); ReplayBuffer(1000) of (state, action, reward, done, new_state);
1,000 random warm-start steps; epsilon = max(0.01, 1.0 - (global_step + 1) / 1000); gamma 0.99; sync_rate 10;
Adam lr 1e-2; RLDataset samples 200 experiences per pass (episode_length) and the DataLoader batches them by
16; `Trainer(accelerator="cpu", devices=1, val_check_interval=100)`. gym's CartPole-v1 becomes the local
stand-in (`_data.gym_make_cartpole`).
"""

import random
from collections import OrderedDict, deque, namedtuple
from collections.abc import Iterator

import _data
import _harness
import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from lightning.pytorch import LightningModule, Trainer
from torch.optim.optimizer import Optimizer
from torch.utils.data import DataLoader
from torch.utils.data.dataset import IterableDataset

MAX_STEPS = 2000  # the port's budget (the template runs the Trainer's default 1,000 epochs)


class DQN(nn.Module):
    """A simple MLP: the Q value of each action."""

    def __init__(self, obs_size: int, n_actions: int, hidden_size: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, n_actions))

    def forward(self, x):
        return self.net(x.float())


Experience = namedtuple("Experience", field_names=["state", "action", "reward", "done", "new_state"])


class ReplayBuffer:
    def __init__(self, capacity: int) -> None:
        self.buffer = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self.buffer)

    def append(self, experience: Experience) -> None:
        self.buffer.append(experience)

    def sample(self, batch_size: int) -> tuple:
        indices = random.sample(range(len(self.buffer)), batch_size)
        states, actions, rewards, dones, next_states = zip(*(self.buffer[idx] for idx in indices), strict=True)
        return (
            torch.tensor(np.array(states)),
            torch.tensor(actions),
            torch.tensor(rewards, dtype=torch.float32),
            torch.tensor(dones, dtype=torch.bool),
            torch.tensor(np.array(next_states)),
        )


class RLDataset(IterableDataset):
    """Yields `sample_size` experiences drawn from the (growing) replay buffer."""

    def __init__(self, buffer: ReplayBuffer, sample_size: int = 200) -> None:
        self.buffer = buffer
        self.sample_size = sample_size

    def __iter__(self) -> Iterator:
        states, actions, rewards, dones, new_states = self.buffer.sample(self.sample_size)
        for i in range(len(dones)):
            yield states[i], actions[i], rewards[i], dones[i], new_states[i]


class Agent:
    """Plays the environment epsilon-greedily and stores what it sees."""

    def __init__(self, env, replay_buffer: ReplayBuffer) -> None:
        self.env = env
        self.replay_buffer = replay_buffer
        self.reset()

    def reset(self) -> None:
        self.state, _ = self.env.reset()

    def get_action(self, net: nn.Module, epsilon: float, device: str) -> int:
        if random.random() < epsilon:
            action = random.randrange(2)  # env.action_space.sample()
        else:
            state = torch.tensor(np.array([self.state]))
            q_values = net(state)
            _, action = torch.max(q_values, dim=1)
            action = int(action.item())
        return action

    @torch.no_grad()
    def play_step(self, net: nn.Module, epsilon: float = 0.0, device: str = "cpu") -> tuple[float, bool]:
        action = self.get_action(net, epsilon, device)
        new_state, reward, terminated, truncated, _ = self.env.step(action)
        done = terminated or truncated
        exp = Experience(self.state, action, reward, done, new_state)
        self.replay_buffer.append(exp)
        self.state = new_state
        if done:
            self.reset()
        return reward, done


class DQNLightning(LightningModule):
    def __init__(self, env: str, replay_size: int = 200, warm_start_steps: int = 200, gamma: float = 0.99,
                 eps_start: float = 1.0, eps_end: float = 0.01, eps_last_frame: int = 200, sync_rate: int = 10,
                 lr: float = 1e-2, episode_length: int = 50, batch_size: int = 4, **kwargs) -> None:
        super().__init__(**kwargs)
        self.replay_size = replay_size
        self.warm_start_steps = warm_start_steps
        self.gamma = gamma
        self.eps_start = eps_start
        self.eps_end = eps_end
        self.eps_last_frame = eps_last_frame
        self.sync_rate = sync_rate
        self.lr = lr
        self.episode_length = episode_length
        self.batch_size = batch_size

        self.env = _data.gym_make_cartpole()  # gym.make(env)
        self.env.reset(seed=_harness.seed())
        obs_size = 4
        n_actions = 2

        self.net = DQN(obs_size, n_actions)
        self.target_net = DQN(obs_size, n_actions)

        self.buffer = ReplayBuffer(self.replay_size)
        self.agent = Agent(self.env, self.buffer)
        self.total_reward = 0
        self.episode_reward = 0
        self.seen_losses = []
        self.populate(self.warm_start_steps)

    def populate(self, steps: int = 1000) -> None:
        """Random steps that fill the replay buffer before training."""
        for _ in range(steps):
            self.agent.play_step(self.net, epsilon=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def dqn_mse_loss(self, batch) -> torch.Tensor:
        states, actions, rewards, dones, next_states = batch
        state_action_values = self.net(states).gather(1, actions.unsqueeze(-1)).squeeze(-1)
        with torch.no_grad():
            next_state_values = self.target_net(next_states).max(1)[0]
            next_state_values[dones] = 0.0
            next_state_values = next_state_values.detach()
        expected_state_action_values = next_state_values * self.gamma + rewards
        return nn.MSELoss()(state_action_values, expected_state_action_values)

    def training_step(self, batch, nb_batch) -> OrderedDict:
        device = self.get_device(batch)
        epsilon = max(self.eps_end, self.eps_start - (self.global_step + 1) / self.eps_last_frame)

        # one step in the environment
        reward, done = self.agent.play_step(self.net, epsilon, device)
        self.episode_reward += reward

        loss = self.dqn_mse_loss(batch)
        self.seen_losses.append(loss.item())

        if done:
            self.total_reward = self.episode_reward
            self.episode_reward = 0

        # the target network is re-synced every sync_rate steps
        if self.global_step % self.sync_rate == 0:
            self.target_net.load_state_dict(self.net.state_dict())

        log = {
            "total_reward": torch.tensor(self.total_reward).to(device),
            "reward": torch.tensor(reward).to(device),
            "steps": torch.tensor(self.global_step).to(device),
        }
        if self.global_step % 250 == 0:
            print(f"step {self.global_step} epsilon {epsilon:.2f} total_reward {self.total_reward}")
        return OrderedDict({"loss": loss, "log": log, "progress_bar": log})

    def configure_optimizers(self) -> list[Optimizer]:
        optimizer = optim.Adam(self.net.parameters(), lr=self.lr)
        return [optimizer]

    def __dataloader(self) -> DataLoader:
        dataset = RLDataset(self.buffer, self.episode_length)
        return DataLoader(dataset=dataset, batch_size=self.batch_size, sampler=None)

    def train_dataloader(self) -> DataLoader:
        return self.__dataloader()

    def get_device(self, batch) -> str:
        return batch[0].device.index if self.on_gpu else "cpu"


def main(args) -> DQNLightning:
    model = DQNLightning(**args)
    trainer = Trainer(accelerator="cpu", devices=1, val_check_interval=100, max_steps=MAX_STEPS, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      callbacks=_harness.callbacks("lightning"))
    trainer.fit(model)
    return model


if __name__ == "__main__":
    pl.seed_everything(_harness.seed())
    _harness.seed_everything()
    args = {"batch_size": 16, "lr": 1e-2, "env": "CartPole-v1", "gamma": 0.99, "sync_rate": 10, "replay_size": 1000,
            "warm_start_steps": 1000, "eps_last_frame": 1000, "eps_start": 1.0, "eps_end": 0.01,
            "episode_length": 200}
    model = main(args)

    # evaluation (not in the template, which logs total_reward): the greedy policy's episode length
    env = _data.gym_make_cartpole()
    env.reset(seed=_harness.seed() + 500)
    lengths = []
    with torch.no_grad():
        for _ in range(5):
            state, _ = env.reset()
            done, steps = False, 0
            while not done:
                action = int(model.net(torch.tensor(state).unsqueeze(0)).argmax(1).item())
                state, _, terminated, truncated, _ = env.step(action)
                done, steps = terminated or truncated, steps + 1
            lengths.append(steps)
    print("greedy evaluation episode lengths:", lengths)
    _harness.report(metric=sum(lengths) / len(lengths), metric_name="greedy_episode_length",
                    chance=_data.cartpole_random_policy_length(_harness.seed()), losses=model.seen_losses)
