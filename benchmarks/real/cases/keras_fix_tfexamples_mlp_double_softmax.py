"""aymericdamien/TensorFlow-Examples `tensorflow_v2/notebooks/3_NeuralNetworks/neural_network.ipynb` (Neural
Network Example, TF2): a subclassed Keras ``Model`` (fc1 Dense(128, relu) -> fc2 Dense(256, relu) -> out
Dense(10)) trained on MNIST by a custom GradientTape loop: ``tf.nn.sparse_softmax_cross_entropy_with_logits``
averaged over the batch, SGD(learning_rate=0.1), 2,000 steps of 256 shuffled images; ``call`` applies a
softmax only when not training.

The bug (fixed by commit e7353b7, "output layer activation ..."): the output layer is
``Dense(num_classes, activation=tf.nn.softmax)``, so during training the loss applies its own softmax to
probabilities (a double softmax): the gradients are squashed and learning crawls. The fix removes the
activation from the output layer so that it returns logits.

Ported to Keras 3 (torch backend) with the same model class, layers, ``is_training`` switch, loss (sparse
categorical cross-entropy from logits, batch mean), SGD(0.1), batch size and step count; the GradientTape step
becomes the Keras 3 torch idiom (``loss.backward()``, ``optimizer.apply``) and the tf.data
``repeat().shuffle(5000).batch(256)`` pipeline a reshuffled numpy batch stream. MNIST becomes the local stand-in
``_data.mnist_load_data`` (6,000 training / 1,000 test images); 600 training steps instead of 2,000. The
outcome is the test accuracy, as the notebook prints it.
"""

import _data
import _harness
import keras
import numpy as np
import torch
from keras import Model, layers, ops

_harness.seed_everything()

# MNIST dataset parameters.
num_classes = 10  # total classes (0-9 digits).
num_features = 784  # data features (img shape: 28*28).

# Training parameters.
learning_rate = 0.1
training_steps = 600
batch_size = 256
display_step = 100

# Network parameters.
n_hidden_1 = 128  # 1st layer number of neurons.
n_hidden_2 = 256  # 2nd layer number of neurons.

(x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed())
x_train, x_test = np.array(x_train, np.float32), np.array(x_test, np.float32)
x_train, x_test = x_train.reshape([-1, num_features]), x_test.reshape([-1, num_features])
x_train, x_test = x_train / 255.0, x_test / 255.0


def train_data(rng):
    """Endless shuffled batches (the notebook's repeat().shuffle(5000).batch(batch_size))."""
    while True:
        order = rng.permutation(len(x_train))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            yield x_train[idx], y_train[idx]


class NeuralNet(Model):
    # Set layers.
    def __init__(self):
        super().__init__()
        # First fully-connected hidden layer.
        self.fc1 = layers.Dense(n_hidden_1, activation="relu")
        # Second fully-connected hidden layer.
        self.fc2 = layers.Dense(n_hidden_2, activation="relu")
        # Output layer.
        self.out = layers.Dense(num_classes, activation="softmax" if _harness.buggy() else None)  # the bug

    # Set forward pass.
    def call(self, x, is_training=False):
        x = self.fc1(x)
        x = self.fc2(x)
        x = self.out(x)
        if not is_training:
            # the cross-entropy expects logits without softmax, so only apply softmax when not training.
            x = ops.softmax(x)
        return x


neural_net = NeuralNet()


def cross_entropy_loss(x, y):
    """Softmax cross-entropy from logits, averaged across the batch."""
    y = ops.cast(y, "int64")
    loss = ops.sparse_categorical_crossentropy(y, x, from_logits=True)
    return ops.mean(loss)


def accuracy(y_pred, y_true):
    correct_prediction = ops.equal(ops.argmax(y_pred, 1), ops.cast(y_true, "int64"))
    return float(ops.mean(ops.cast(correct_prediction, "float32")))


optimizer = keras.optimizers.SGD(learning_rate)
neural_net(x_train[:1])
optimizer.build(neural_net.trainable_variables)


def run_optimization(x, y):
    pred = neural_net(x, is_training=True)
    loss = cross_entropy_loss(pred, y)
    neural_net.zero_grad()
    loss.backward()
    trainable_variables = list(neural_net.trainable_variables)
    gradients = [v.value.grad for v in trainable_variables]
    with torch.no_grad():
        optimizer.apply(gradients, trainable_variables)
    return float(loss.detach())


losses = []
batches = train_data(np.random.default_rng(_harness.seed()))
for step in range(1, training_steps + 1):
    batch_x, batch_y = next(batches)
    losses.append(run_optimization(batch_x, batch_y))
    if step % display_step == 0:
        with torch.no_grad():
            pred = neural_net(batch_x, is_training=True)
            loss = cross_entropy_loss(pred, batch_y)
            acc = accuracy(pred, batch_y)
        print("step: %i, loss: %f, accuracy: %f" % (step, float(loss), acc))

with torch.no_grad():
    pred = neural_net(x_test, is_training=False)
test_accuracy = accuracy(pred, y_test)
print("Test Accuracy: %f" % test_accuracy)
_harness.report(metric=test_accuracy, metric_name="accuracy", chance=0.1, losses=losses)
