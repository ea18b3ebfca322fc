"""keras-io example `examples/rl/ppo_cartpole.py` ("Proximal Policy Optimization", Ilias Chrysovergis): a PPO
agent on CartPole-v0 with separate Keras actor and critic MLPs, a GAE-lambda trajectory buffer and
hand-written policy / value updates.

Ported (re-written to the same networks, buffer, advantage and return computation, losses, optimizers,
iteration counts, KL early stopping and loop): actor and critic are functional MLPs Input(4) -> Dense(64,
tanh) -> Dense(64, tanh) -> Dense(2) logits / Dense(1) squeezed value; actions are sampled from the logits
(categorical); the buffer stores observation, action, reward, value and log-probability, finishes each
trajectory with GAE-lambda advantages (gamma 0.99 and the Buffer's default lam 0.95: the example's
hyper-parameter lam = 0.97 is never passed to it) and rewards-to-go by scipy.signal.lfilter, and
normalizes the advantages when read; each epoch the policy takes up to 80 Adam(3e-4) steps on the PPO-Clip
objective -mean(min(ratio * A, clip(A))) with clip ratio 0.2 over the whole epoch's buffer, stopping early
once the approximate KL exceeds 1.5 * 0.01, and the value function 80 Adam(1e-3) steps on the mean squared
error to the rewards-to-go; the epoch's mean return and length are printed.

Changes: the @tf.function / tf.GradientTape steps become the torch backend's autograd (zero_grad / backward /
gradients from the variables' `.value.grad` / `optimizer.apply` under no_grad); tf ops -> keras.ops
(keras.random.categorical for tf.random.categorical); the rollout runs under torch.no_grad(). gym is not
installed: gym.make("CartPole-v0") -> `_data.gym_make_cartpole()` (the cart-pole dynamics, reset / step in
gymnasium's 5-tuple form, reward 1 per step) with its step limit set to CartPole-v0's 200 (a truncated
episode counts as done, as gym's old 4-tuple API reported it), seeded with the benchmark seed.
steps_per_epoch 4000 -> 1000 and epochs 30 -> 6, so one run takes seconds. Metric: the program's own mean
return of the last epoch; chance: the mean episode length of uniformly random actions on the stand-in
(about 22).
"""

import _data
import _harness
import keras
import numpy as np
import scipy.signal
import torch
from keras import layers, ops

seed = _harness.seed_everything()


def discounted_cumulative_sums(x, discount):
    # discounted cumulative sums of vectors, for rewards-to-go and advantage estimates
    return scipy.signal.lfilter([1], [1, float(-discount)], x[::-1], axis=0)[::-1]


class Buffer:
    # buffer for storing trajectories
    def __init__(self, observation_dimensions, size, gamma=0.99, lam=0.95):
        self.observation_buffer = np.zeros((size, observation_dimensions), dtype=np.float32)
        self.action_buffer = np.zeros(size, dtype=np.int32)
        self.advantage_buffer = np.zeros(size, dtype=np.float32)
        self.reward_buffer = np.zeros(size, dtype=np.float32)
        self.return_buffer = np.zeros(size, dtype=np.float32)
        self.value_buffer = np.zeros(size, dtype=np.float32)
        self.logprobability_buffer = np.zeros(size, dtype=np.float32)
        self.gamma, self.lam = gamma, lam
        self.pointer, self.trajectory_start_index = 0, 0

    def store(self, observation, action, reward, value, logprobability):
        # one step of agent-environment interaction
        self.observation_buffer[self.pointer] = observation
        self.action_buffer[self.pointer] = action
        self.reward_buffer[self.pointer] = reward
        self.value_buffer[self.pointer] = value
        self.logprobability_buffer[self.pointer] = logprobability
        self.pointer += 1

    def finish_trajectory(self, last_value=0):
        # advantage estimates (GAE-lambda) and rewards-to-go of the finished trajectory
        path_slice = slice(self.trajectory_start_index, self.pointer)
        rewards = np.append(self.reward_buffer[path_slice], last_value)
        values = np.append(self.value_buffer[path_slice], last_value)

        deltas = rewards[:-1] + self.gamma * values[1:] - values[:-1]

        self.advantage_buffer[path_slice] = discounted_cumulative_sums(deltas, self.gamma * self.lam)
        self.return_buffer[path_slice] = discounted_cumulative_sums(rewards, self.gamma)[:-1]

        self.trajectory_start_index = self.pointer

    def get(self):
        # all data of the buffer, with normalized advantages
        self.pointer, self.trajectory_start_index = 0, 0
        advantage_mean, advantage_std = (
            np.mean(self.advantage_buffer),
            np.std(self.advantage_buffer),
        )
        self.advantage_buffer = (self.advantage_buffer - advantage_mean) / advantage_std
        return (
            self.observation_buffer,
            self.action_buffer,
            self.advantage_buffer,
            self.return_buffer,
            self.logprobability_buffer,
        )


def mlp(x, sizes, activation="tanh", output_activation=None):
    # a feedforward network
    for size in sizes[:-1]:
        x = layers.Dense(units=size, activation=activation)(x)
    return layers.Dense(units=sizes[-1], activation=output_activation)(x)


def logprobabilities(logits, a):
    # log-probabilities of the actions a under the actor's logits
    logprobabilities_all = ops.log_softmax(logits)
    logprobability = ops.sum(ops.one_hot(a, num_actions) * logprobabilities_all, axis=1)
    return logprobability


def sample_action(observation):
    logits = actor(observation)
    action = ops.squeeze(keras.random.categorical(logits, 1), axis=1)
    return logits, action


def train_policy(observation_buffer, action_buffer, logprobability_buffer, advantage_buffer):
    # one step on the PPO-Clip objective
    actor.zero_grad()
    ratio = ops.exp(logprobabilities(actor(observation_buffer), action_buffer) - logprobability_buffer)
    min_advantage = ops.where(
        advantage_buffer > 0,
        (1 + clip_ratio) * advantage_buffer,
        (1 - clip_ratio) * advantage_buffer,
    )
    policy_loss = -ops.mean(ops.minimum(ratio * advantage_buffer, min_advantage))
    policy_loss.backward()
    variables = actor.trainable_variables
    policy_grads = [v.value.grad for v in variables]
    with torch.no_grad():
        policy_optimizer.apply(policy_grads, variables)
        kl = ops.mean(logprobability_buffer - logprobabilities(actor(observation_buffer), action_buffer))
        kl = ops.sum(kl)
    return kl, float(policy_loss)


def train_value_function(observation_buffer, return_buffer):
    # one step of regression on the mean squared error
    critic.zero_grad()
    value_loss = ops.mean((return_buffer - critic(observation_buffer)) ** 2)
    value_loss.backward()
    variables = critic.trainable_variables
    value_grads = [v.value.grad for v in variables]
    with torch.no_grad():
        value_optimizer.apply(value_grads, variables)
    return float(value_loss)


# hyperparameters of the PPO algorithm
steps_per_epoch = 1000
epochs = 6
gamma = 0.99
clip_ratio = 0.2
policy_learning_rate = 3e-4
value_function_learning_rate = 1e-3
train_policy_iterations = 80
train_value_iterations = 80
lam = 0.97  # (not passed to the Buffer, as in the example)
target_kl = 0.01
hidden_sizes = (64, 64)

env = _data.gym_make_cartpole()
env.max_episode_steps = 200  # CartPole-v0's TimeLimit
observation_dimensions = 4
num_actions = 2

buffer = Buffer(observation_dimensions, steps_per_epoch)

observation_input = keras.Input(shape=(observation_dimensions,), dtype="float32")
logits = mlp(observation_input, list(hidden_sizes) + [num_actions], "tanh", None)
actor = keras.Model(inputs=observation_input, outputs=logits)
value = ops.squeeze(mlp(observation_input, list(hidden_sizes) + [1], "tanh", None), axis=1)
critic = keras.Model(inputs=observation_input, outputs=value)

policy_optimizer = keras.optimizers.Adam(learning_rate=policy_learning_rate)
value_optimizer = keras.optimizers.Adam(learning_rate=value_function_learning_rate)

observation, _ = env.reset(seed=seed)
episode_return, episode_length = 0, 0
losses = []
mean_return = 0.0

for epoch in range(epochs):
    sum_return = 0
    sum_length = 0
    num_episodes = 0

    with torch.no_grad():
        for t in range(steps_per_epoch):
            # logits and action, one step in the environment
            observation = observation.reshape(1, -1)
            logits, action = sample_action(observation)
            action = int(ops.convert_to_numpy(action)[0])
            observation_new, reward, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
            episode_return += reward
            episode_length += 1

            # value and log-probability of the action
            value_t = ops.convert_to_numpy(critic(observation))[0]
            logprobability_t = ops.convert_to_numpy(logprobabilities(logits, np.array([action])))[0]

            buffer.store(observation, action, reward, value_t, logprobability_t)
            observation = observation_new

            # finish the trajectory at a terminal state
            terminal = done
            if terminal or (t == steps_per_epoch - 1):
                last_value = 0 if done else float(ops.convert_to_numpy(critic(observation.reshape(1, -1)))[0])
                buffer.finish_trajectory(last_value)
                sum_return += episode_return
                sum_length += episode_length
                num_episodes += 1
                (observation, _), episode_return, episode_length = env.reset(), 0, 0

    (
        observation_buffer,
        action_buffer,
        advantage_buffer,
        return_buffer,
        logprobability_buffer,
    ) = buffer.get()
    # tensors, as the example's tf.function steps receive them
    observation_buffer, action_buffer, advantage_buffer, return_buffer, logprobability_buffer = (
        ops.convert_to_tensor(b) for b in (observation_buffer, action_buffer, advantage_buffer, return_buffer,
                                           logprobability_buffer))

    # policy updates, stopped early by the KL divergence
    for _ in range(train_policy_iterations):
        kl, policy_loss = train_policy(observation_buffer, action_buffer, logprobability_buffer, advantage_buffer)
        losses.append(policy_loss)
        if kl > 1.5 * target_kl:
            break

    # value function updates
    for _ in range(train_value_iterations):
        train_value_function(observation_buffer, return_buffer)

    mean_return = sum_return / num_episodes
    print(f" Epoch: {epoch + 1}. Mean Return: {mean_return}. Mean Length: {sum_length / num_episodes}")

_harness.report(metric=mean_return, metric_name="mean return (last epoch)",
                chance=_data.cartpole_random_policy_length(seed), losses=losses)
