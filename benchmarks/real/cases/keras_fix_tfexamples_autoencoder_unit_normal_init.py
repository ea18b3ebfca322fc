"""Aymeric Damien's TensorFlow-Examples ``examples/3_NeuralNetworks/autoencoder.py`` (TF1): a 2-layer sigmoid
auto-encoder on MNIST (784 -> 256 -> 128 -> 256 -> 784, every layer ``sigmoid(x W + b)``) trained to minimise the
mean squared reconstruction error with ``tf.train.RMSPropOptimizer(0.01)``, batches of 256 from
``mnist.train.next_batch`` for 30,000 steps.

The bug (pull request #169, commit b7e13ee, "autoencode - correct deep nn initalization": "autoencoder.py had
incorrect weights initialization which leads nn to exploded gradient problem"): every weight and bias is a
``tf.Variable(tf.random_normal(shape))``, a standard deviation of 1. With 784 inputs in [0, 1] the pre-activations
have a spread of ~10, the sigmoids saturate at 0 or 1 and the reconstruction error hardly falls below that of
the mean image (the repository's own notebook logs 0.147 after 1,000 steps and still 0.058 after 30,000). The
fix draws every weight and bias from ``tf.truncated_normal(shape, stddev=0.1)``.

Ported to Keras 3: the four ``sigmoid(matmul + bias)`` layers become ``Dense(..., activation="sigmoid")`` with the
same initializers for kernel and bias (``RandomNormal(stddev=1)`` buggy, ``TruncatedNormal(stddev=0.1)``
fixed), the loss ``mean((y_true - y_pred)^2)`` becomes ``"mse"``, the optimizer ``RMSprop(0.01, rho=0.9,
epsilon=1e-10)`` (TF1's decay and epsilon), and ``sess.run([optimizer, loss])`` on each ``next_batch`` becomes
``train_on_batch`` on the same kind of batch. The MNIST download becomes the local stand-in (20,000 / 1,000
images scaled to [0, 1] as ``input_data`` returns them); 600 steps instead of 30,000; the image plots go.
The score is minus the reconstruction MSE on the held-out images (chance: that of the mean training image).
"""

import _data
import _harness
import keras
import numpy as np
from keras import initializers, layers

_harness.seed_everything()

# Import MNIST data (input_data: float32 images flattened to 784 values in [0, 1])
(train_images, _), (test_images, _) = _data.mnist_load_data(seed=_harness.seed(), n_train=20000, n_test=1000)
train_x = train_images.reshape(-1, 784).astype("float32") / 255.0
test_x = test_images.reshape(-1, 784).astype("float32") / 255.0
rng = np.random.default_rng(_harness.seed())
order, cursor = rng.permutation(len(train_x)), 0


def next_batch(batch_size):
    """mnist.train.next_batch: consecutive slices of a permutation, reshuffled after each epoch."""
    global order, cursor
    if cursor + batch_size > len(order):
        order, cursor = rng.permutation(len(train_x)), 0
    batch = train_x[order[cursor:cursor + batch_size]]
    cursor += batch_size
    return batch


# Training Parameters
learning_rate = 0.01
num_steps = 600
batch_size = 256

display_step = 100

# Network Parameters
num_hidden_1 = 256  # 1st layer num features
num_hidden_2 = 128  # 2nd layer num features (the latent dim)
num_input = 784  # MNIST data input (img shape: 28*28)


def weight_init():
    # buggy: tf.random_normal(shape) (stddev 1) for every weight and bias; fixed: tf.truncated_normal(shape, stddev=0.1)
    return initializers.RandomNormal(stddev=1.0) if _harness.buggy() else initializers.TruncatedNormal(stddev=0.1)  # the bug


def sigmoid_layer(units):
    return layers.Dense(units, activation="sigmoid", kernel_initializer=weight_init(),
                        bias_initializer=weight_init())


X = keras.Input(shape=(num_input,))
# Building the encoder: two sigmoid(x W + b) layers
layer_1 = sigmoid_layer(num_hidden_1)(X)
encoder_op = sigmoid_layer(num_hidden_2)(layer_1)
# Building the decoder: two sigmoid(x W + b) layers
layer_1 = sigmoid_layer(num_hidden_1)(encoder_op)
decoder_op = sigmoid_layer(num_input)(layer_1)
model = keras.Model(X, decoder_op)

# Define loss and optimizer, minimize the squared error
model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=learning_rate, rho=0.9, epsilon=1e-10), loss="mse")

# Training
losses = []
for i in range(1, num_steps + 1):
    batch_x = next_batch(batch_size)
    loss = float(model.train_on_batch(batch_x, batch_x))
    losses.append(loss)
    if i % display_step == 0 or i == 1:
        print("Step %i: Minibatch Loss: %f" % (i, loss))

# Testing: reconstruct held-out images
reconstruction = np.asarray(model.predict(test_x, batch_size=256, verbose=0))
test_mse = float(np.mean((reconstruction - test_x) ** 2))
mean_image_mse = float(np.mean((train_x.mean(axis=0) - test_x) ** 2))
print(f"test reconstruction MSE {test_mse:.4f} (mean-image baseline {mean_image_mse:.4f})")
_harness.report(metric=-test_mse, metric_name="minus test reconstruction MSE", chance=-mean_image_mse,
                losses=losses)
