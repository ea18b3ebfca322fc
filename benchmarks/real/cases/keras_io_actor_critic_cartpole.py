"""keras-io example `examples/rl/actor_critic_cartpole.py` ("Actor Critic Method", Apoorv Nandan): an
actor-critic agent on CartPole-v0 trained by a hand-written loop, one gradient step per episode.

Ported (re-written to the same network, optimizer, discounting, return normalization, losses and loop): one
functional Keras model, Input(4) -> Dense(128, relu) shared by the actor head Dense(2, softmax) and the
critic head Dense(1); every step the model is called on the state, the action is sampled with
np.random.choice from the actor's probabilities and log(prob of the action) and the critic value are kept;
after the episode the discounted returns (gamma 0.99) are normalized by their mean and std (+ float32 eps),
the actor loss is -log_prob * (return - value) (the value is not detached, as in the example) and the critic
loss keras.losses.Huber() of (value, return), both summed and added, and Adam(learning_rate=0.01) applies
the gradients of that sum once per episode; a running reward 0.05 * episode reward + 0.95 * running reward
(starting at 0) decides when the task is solved (> 195).

Changes: the example's tf.GradientTape around the episode becomes the torch backend's autograd (the graph is
kept over the episode; zero_grad / backward / gradients from the variables' `.value.grad` /
`optimizer.apply` under no_grad, as Keras's torch guide writes a custom step). gym is not installed:
gym.make("CartPole-v0") becomes `_data.gym_make_cartpole()` (the same cart-pole dynamics, reset / step API in
gymnasium's 5-tuple form, reward 1 per step) with its step limit set to CartPole-v0's 200; the environment and
backend are seeded with the benchmark seed instead of 42. The loop stops when solved or after 100 episodes
(the example runs until solved). The per-episode total loss is recorded for the report. Metric: the
program's own running reward at the end; chance: the mean episode length of uniformly random actions on the
stand-in (about 22).
"""

import _data
import _harness
import keras
import numpy as np
import torch
from keras import layers, ops

seed = _harness.seed_everything()

gamma = 0.99  # discount factor for past rewards
max_steps_per_episode = 10000
max_episodes = 100
env = _data.gym_make_cartpole()
env.max_episode_steps = 200  # CartPole-v0's TimeLimit
env.reset(seed=seed)
eps = np.finfo(np.float32).eps.item()  # smallest number such that 1.0 + eps != 1.0

num_inputs = 4
num_actions = 2
num_hidden = 128

inputs = layers.Input(shape=(num_inputs,))
common = layers.Dense(num_hidden, activation="relu")(inputs)
action = layers.Dense(num_actions, activation="softmax")(common)
critic = layers.Dense(1)(common)

model = keras.Model(inputs=inputs, outputs=[action, critic])

optimizer = keras.optimizers.Adam(learning_rate=0.01)
huber_loss = keras.losses.Huber()
action_probs_history = []
critic_value_history = []
rewards_history = []
running_reward = 0
episode_count = 0
losses = []

while True:  # run until solved (or max_episodes)
    state, _ = env.reset()
    episode_reward = 0
    model.zero_grad()
    for timestep in range(1, max_steps_per_episode):
        state = ops.convert_to_tensor(state)
        state = ops.expand_dims(state, 0)

        # action probabilities and estimated future rewards from the state
        action_probs, critic_value = model(state)
        critic_value_history.append(critic_value[0, 0])

        # sample an action from the action probability distribution
        action = np.random.choice(num_actions, p=np.squeeze(ops.convert_to_numpy(action_probs)))
        action_probs_history.append(ops.log(action_probs[0, action]))

        # apply the sampled action in the environment
        state, reward, terminated, truncated, _ = env.step(action)
        rewards_history.append(reward)
        episode_reward += reward

        if terminated or truncated:
            break

    # running reward, to check the condition for solving
    running_reward = 0.05 * episode_reward + (1 - 0.05) * running_reward

    # discounted returns: the critic's labels
    returns = []
    discounted_sum = 0
    for r in rewards_history[::-1]:
        discounted_sum = r + gamma * discounted_sum
        returns.insert(0, discounted_sum)

    # normalize
    returns = np.array(returns)
    returns = (returns - np.mean(returns)) / (np.std(returns) + eps)
    returns = returns.tolist()

    # the loss values
    history = zip(action_probs_history, critic_value_history, returns)
    actor_losses = []
    critic_losses = []
    for log_prob, value, ret in history:
        # the critic expected `value`; the action taken (log probability `log_prob`) led to `ret`
        diff = ret - value
        actor_losses.append(-log_prob * diff)  # actor loss
        critic_losses.append(huber_loss(ops.expand_dims(value, 0), ops.expand_dims(ops.convert_to_tensor(ret), 0)))

    # backpropagation
    loss_value = sum(actor_losses) + sum(critic_losses)
    loss_value.backward()
    trainable_variables = model.trainable_variables
    grads = [v.value.grad for v in trainable_variables]
    with torch.no_grad():
        optimizer.apply(grads, trainable_variables)
    losses.append(float(loss_value))

    # clear the loss and reward history
    action_probs_history.clear()
    critic_value_history.clear()
    rewards_history.clear()

    episode_count += 1
    if episode_count % 10 == 0:
        print(f"running reward: {running_reward:.2f} at episode {episode_count}")

    if running_reward > 195:  # condition to consider the task solved
        print(f"Solved at episode {episode_count}!")
        break
    if episode_count >= max_episodes:
        break

_harness.report(metric=running_reward, metric_name="running_reward",
                chance=_data.cartpole_random_policy_length(seed), losses=losses, episodes=episode_count)
