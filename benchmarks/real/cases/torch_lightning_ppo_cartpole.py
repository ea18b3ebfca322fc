"""Lightning `examples/pytorch/domain_templates/reinforce_learn_ppo.py`: Proximal Policy Optimization as a
LightningModule with manual optimization, trained on CartPole from an IterableDataset that rolls the policy out
inside the DataLoader.

Ported (re-written to the same networks, rollout, advantage estimate, losses, optimizers and Trainer): actor and
critic are separate MLPs (Linear(4, 128) - ReLU - Linear(128, 128) - ReLU - Linear(128, n_out)); the actor wraps
its logits in a `Categorical` and samples. Every epoch `generate_trajectory_samples` plays `steps_per_epoch`
(2048) environment steps, cuts episodes at `done` (or at the epoch end, bootstrapping from the critic), computes
discounted returns (gamma 0.99) and GAE advantages (lambda 0.95) in Python lists, then yields the 2,048
(state, action, logp_old, qval, adv) samples, which the DataLoader batches by 512. `training_step` normalizes the
advantages per batch, logs the rollout statistics, and with `automatic_optimization = False` runs
`manual_backward` + `step` + `zero_grad` on the clipped-ratio actor loss (clip 0.2) and then on the critic's MSE
to the returns, with `Adam(actor, 3e-4)` and `Adam(critic, 1e-3)`; the module's `optimizer_step` override (4
iterations per batch) is kept, though manual optimization never calls it. `Trainer(accelerator="cpu",
devices=1, val_check_interval=100)`, `seed_everything(0)`, the argparse defaults (env CartPole-v0,
max_episode_len 1000).

Changes: gym is not installed: `gym.make("CartPole-v0")` becomes the local CartPole stand-in
(`_data.gym_make_cartpole`) behind gym's old API (`reset()` -> obs, `step()` -> (obs, reward, done, info)) with
CartPole-v0's 200-step limit, seeded with the benchmark's seed; `max_epochs=25` instead of the Trainer's
default 1000; no progress bar, logger or checkpoints. The template has no held-out measure; the port plays 10
evaluation episodes with the trained actor (sampling, as it acts in training) on a separately seeded environment
and reports their mean length (task generative; chance: the mean episode length of random actions).
"""

import argparse
from collections.abc import Iterator
from typing import Callable

import _data
import _harness
import torch
from lightning.pytorch import LightningModule, Trainer, seed_everything
from torch import nn
from torch.distributions import Categorical, Normal
from torch.optim.optimizer import Optimizer
from torch.utils.data import DataLoader, IterableDataset


class spaces:  # noqa: N801  (the two gym.spaces classes the template checks)
    class Box:
        def __init__(self, shape):
            self.shape = shape

    class Discrete:
        def __init__(self, n):
            self.n = n
            self.shape = ()


class CartPoleV0:
    """`gym.make("CartPole-v0")` with gym's old API over the local CartPole stand-in (200-step time limit)."""

    def __init__(self, seed):
        self.env = _data.gym_make_cartpole()
        self.env.max_episode_steps = 200  # CartPole-v0's TimeLimit
        self.observation_space = spaces.Box(shape=(4,))
        self.action_space = spaces.Discrete(2)
        self._seed = seed

    def reset(self):
        obs, _ = self.env.reset(seed=self._seed)
        self._seed = None
        return obs

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(int(action))
        return obs, reward, terminated or truncated, info


def create_mlp(input_shape: tuple[int], n_actions: int, hidden_size: int = 128):
    """Simple Multi-Layer Perceptron network."""
    return nn.Sequential(
        nn.Linear(input_shape[0], hidden_size),
        nn.ReLU(),
        nn.Linear(hidden_size, hidden_size),
        nn.ReLU(),
        nn.Linear(hidden_size, n_actions),
    )


class ActorCategorical(nn.Module):
    """Policy network for discrete action spaces: a distribution and a sampled action per observation."""

    def __init__(self, actor_net):
        super().__init__()
        self.actor_net = actor_net

    def forward(self, states):
        logits = self.actor_net(states)
        pi = Categorical(logits=logits)
        actions = pi.sample()
        return pi, actions

    def get_log_prob(self, pi: Categorical, actions: torch.Tensor):
        return pi.log_prob(actions)


class ActorContinuous(nn.Module):
    """Policy network for continuous action spaces (not used by CartPole)."""

    def __init__(self, actor_net, act_dim):
        super().__init__()
        self.actor_net = actor_net
        self.log_std = nn.Parameter(-0.5 * torch.ones(act_dim, dtype=torch.float))

    def forward(self, states):
        mu = self.actor_net(states)
        pi = Normal(loc=mu, scale=torch.exp(self.log_std))
        return pi, pi.sample()

    def get_log_prob(self, pi: Normal, actions: torch.Tensor):
        return pi.log_prob(actions).sum(axis=-1)


class ExperienceSourceDataset(IterableDataset):
    """Basic experience source: iterates the generator the LightningModule provides."""

    def __init__(self, generate_batch: Callable):
        self.generate_batch = generate_batch

    def __iter__(self) -> Iterator:
        return self.generate_batch()


class PPOLightning(LightningModule):
    def __init__(self, env: str, gamma: float = 0.99, lam: float = 0.95, lr_actor: float = 3e-4,
                 lr_critic: float = 1e-3, max_episode_len: float = 200, batch_size: int = 512,
                 steps_per_epoch: int = 2048, nb_optim_iters: int = 4, clip_ratio: float = 0.2, **kwargs) -> None:
        super().__init__()
        self.lr_actor = lr_actor
        self.lr_critic = lr_critic
        self.steps_per_epoch = steps_per_epoch
        self.nb_optim_iters = nb_optim_iters
        self.batch_size = batch_size
        self.gamma = gamma
        self.lam = lam
        self.max_episode_len = max_episode_len
        self.clip_ratio = clip_ratio
        self.save_hyperparameters()

        self.automatic_optimization = False

        self.env = CartPoleV0(seed=_harness.seed())  # gym.make(env)
        self.critic = create_mlp(self.env.observation_space.shape, 1)
        if isinstance(self.env.action_space, spaces.Box):
            act_dim = self.env.action_space.shape[0]
            self.actor = ActorContinuous(create_mlp(self.env.observation_space.shape, act_dim), act_dim)
        elif isinstance(self.env.action_space, spaces.Discrete):
            self.actor = ActorCategorical(create_mlp(self.env.observation_space.shape, self.env.action_space.n))
        else:
            raise NotImplementedError("Env action space should be of type Box (continuous) or Discrete (categorical).")

        self.batch_states = []
        self.batch_actions = []
        self.batch_adv = []
        self.batch_qvals = []
        self.batch_logp = []

        self.ep_rewards = []
        self.ep_values = []
        self.epoch_rewards = []

        self.episode_step = 0
        self.avg_ep_reward = 0
        self.avg_ep_len = 0
        self.avg_reward = 0
        self.seen_losses = []  # the port's record of the critic losses

        self.state = torch.FloatTensor(self.env.reset())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pi, action = self.actor(x)
        value = self.critic(x)
        return pi, action, value

    def discount_rewards(self, rewards: list[float], discount: float) -> list[float]:
        assert isinstance(rewards[0], float)
        cumul_reward = []
        sum_r = 0.0
        for r in reversed(rewards):
            sum_r = (sum_r * discount) + r
            cumul_reward.append(sum_r)
        return list(reversed(cumul_reward))

    def calc_advantage(self, rewards: list[float], values: list[float], last_value: float) -> list[float]:
        rews = rewards + [last_value]
        vals = values + [last_value]
        delta = [rews[i] + self.gamma * vals[i + 1] - vals[i] for i in range(len(rews) - 1)]
        return self.discount_rewards(delta, self.gamma * self.lam)

    def generate_trajectory_samples(self):
        for step in range(self.steps_per_epoch):
            self.state = self.state.to(device=self.device)

            with torch.no_grad():
                pi, action, value = self(self.state)
                log_prob = self.actor.get_log_prob(pi, action)

            next_state, reward, done, _ = self.env.step(action.cpu().numpy())

            self.episode_step += 1

            self.batch_states.append(self.state)
            self.batch_actions.append(action)
            self.batch_logp.append(log_prob)

            self.ep_rewards.append(reward)
            self.ep_values.append(value.item())

            self.state = torch.FloatTensor(next_state)

            epoch_end = step == (self.steps_per_epoch - 1)
            terminal = len(self.ep_rewards) == self.max_episode_len

            if epoch_end or done or terminal:
                # if trajectory ends abruptly, bootstrap value of next state
                if (terminal or epoch_end) and not done:
                    self.state = self.state.to(device=self.device)
                    with torch.no_grad():
                        _, _, value = self(self.state)
                        last_value = value.item()
                        steps_before_cutoff = self.episode_step
                else:
                    last_value = 0
                    steps_before_cutoff = 0

                self.batch_qvals += self.discount_rewards(self.ep_rewards + [last_value], self.gamma)[:-1]
                self.batch_adv += self.calc_advantage(self.ep_rewards, self.ep_values, last_value)
                self.epoch_rewards.append(sum(self.ep_rewards))
                self.ep_rewards = []
                self.ep_values = []
                self.episode_step = 0
                self.state = torch.FloatTensor(self.env.reset())

            if epoch_end:
                train_data = zip(
                    self.batch_states, self.batch_actions, self.batch_logp, self.batch_qvals, self.batch_adv
                )
                for state, action, logp_old, qval, adv in train_data:
                    yield state, action, logp_old, qval, adv

                self.batch_states.clear()
                self.batch_actions.clear()
                self.batch_adv.clear()
                self.batch_logp.clear()
                self.batch_qvals.clear()

                self.avg_reward = sum(self.epoch_rewards) / self.steps_per_epoch

                # if the last episode was cut off, it is not counted
                epoch_rewards = self.epoch_rewards
                if not done:
                    epoch_rewards = epoch_rewards[:-1]

                total_epoch_reward = sum(epoch_rewards)
                nb_episodes = len(epoch_rewards)

                self.avg_ep_reward = total_epoch_reward / nb_episodes
                self.avg_ep_len = (self.steps_per_epoch - steps_before_cutoff) / nb_episodes

                self.epoch_rewards.clear()

    def actor_loss(self, state, action, logp_old, qval, adv) -> torch.Tensor:
        pi, _ = self.actor(state)
        logp = self.actor.get_log_prob(pi, action)
        ratio = torch.exp(logp - logp_old)
        clip_adv = torch.clamp(ratio, 1 - self.clip_ratio, 1 + self.clip_ratio) * adv
        return -(torch.min(ratio * adv, clip_adv)).mean()

    def critic_loss(self, state, action, logp_old, qval, adv) -> torch.Tensor:
        value = self.critic(state)
        return (qval - value).pow(2).mean()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]):
        state, action, old_logp, qval, adv = batch

        # normalize advantages
        adv = (adv - adv.mean()) / adv.std()

        self.log("avg_ep_len", self.avg_ep_len, prog_bar=True, on_step=False, on_epoch=True)
        self.log("avg_ep_reward", self.avg_ep_reward, prog_bar=True, on_step=False, on_epoch=True)
        self.log("avg_reward", self.avg_reward, prog_bar=True, on_step=False, on_epoch=True)

        optimizer_actor, optimizer_critic = self.optimizers()

        loss_actor = self.actor_loss(state, action, old_logp, qval, adv)
        self.manual_backward(loss_actor)
        optimizer_actor.step()
        optimizer_actor.zero_grad()

        loss_critic = self.critic_loss(state, action, old_logp, qval, adv)
        self.manual_backward(loss_critic)
        optimizer_critic.step()
        optimizer_critic.zero_grad()

        self.log("loss_critic", loss_critic, on_step=False, on_epoch=True, prog_bar=False, logger=True)
        self.log("loss_actor", loss_actor, on_step=False, on_epoch=True, prog_bar=True, logger=True)
        self.seen_losses.append(loss_critic.item())

    def on_train_epoch_end(self):
        print(f"epoch {self.current_epoch}: avg_ep_len {self.avg_ep_len:.1f}, avg_ep_reward {self.avg_ep_reward:.1f}")

    def configure_optimizers(self) -> list[Optimizer]:
        optimizer_actor = torch.optim.Adam(self.actor.parameters(), lr=self.lr_actor)
        optimizer_critic = torch.optim.Adam(self.critic.parameters(), lr=self.lr_critic)
        return optimizer_actor, optimizer_critic

    def optimizer_step(self, *args, **kwargs):
        """Run 'nb_optim_iters' number of iterations of gradient descent on actor and critic for each data sample."""
        for _ in range(self.nb_optim_iters):
            super().optimizer_step(*args, **kwargs)

    def _dataloader(self) -> DataLoader:
        dataset = ExperienceSourceDataset(self.generate_trajectory_samples)
        return DataLoader(dataset=dataset, batch_size=self.batch_size)

    def train_dataloader(self) -> DataLoader:
        return self._dataloader()


def main(args) -> PPOLightning:
    model = PPOLightning(**vars(args))
    trainer = Trainer(accelerator="cpu", devices=1, val_check_interval=100, max_epochs=25, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      callbacks=_harness.callbacks("lightning"))
    trainer.fit(model)
    return model


if __name__ == "__main__":
    seed_everything(_harness.seed())  # seed_everything(0)
    _harness.seed_everything()

    parser = argparse.ArgumentParser()
    parser.add_argument("--env", type=str, default="CartPole-v0")
    parser.add_argument("--gamma", type=float, default=0.99, help="discount factor")
    parser.add_argument("--lam", type=float, default=0.95, help="advantage discount factor")
    parser.add_argument("--lr_actor", type=float, default=3e-4, help="learning rate of actor network")
    parser.add_argument("--lr_critic", type=float, default=1e-3, help="learning rate of critic network")
    parser.add_argument("--max_episode_len", type=int, default=1000, help="capacity of the replay buffer")
    parser.add_argument("--batch_size", type=int, default=512, help="batch_size when training network")
    parser.add_argument("--steps_per_epoch", type=int, default=2048,
                        help="how many action-state pairs to rollout for trajectory collection per epoch")
    parser.add_argument("--nb_optim_iters", type=int, default=4,
                        help="how many steps of gradient descent to perform on each batch")
    parser.add_argument("--clip_ratio", type=float, default=0.2,
                        help="hyperparameter for clipping in the policy objective")
    args = parser.parse_args()

    model = main(args)

    # the port's held-out measure: 10 episodes of the trained actor on a separately seeded environment
    env = CartPoleV0(seed=_harness.seed() + 500)
    lengths = []
    with torch.no_grad():
        for _ in range(10):
            state, done, steps = torch.FloatTensor(env.reset()), False, 0
            while not done:
                _, action = model.actor(state)
                next_state, _, done, _ = env.step(action.numpy())
                state, steps = torch.FloatTensor(next_state), steps + 1
            lengths.append(steps)
    print("evaluation episode lengths:", lengths)
    _harness.report(metric=sum(lengths) / len(lengths), metric_name="mean evaluation episode length",
                    chance=_data.cartpole_random_policy_length(_harness.seed()), losses=model.seen_losses)
