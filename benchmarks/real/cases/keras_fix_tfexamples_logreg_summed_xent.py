"""aymericdamien/TensorFlow-Examples `tensorflow_v2/notebooks/2_BasicModels/logistic_regression.ipynb`
(Logistic Regression Example, TF2): softmax(x @ W + b) with W (784 x 10) initialized to ones and b to zeros,
a hand-written cross-entropy on clipped probabilities, SGD(learning_rate=0.01), 1,000 GradientTape steps of
256 shuffled MNIST images.

The bug (fixed by commit c577281, "A minor mistake in cross entropy loss"): the cross-entropy is
``tf.reduce_mean(-tf.reduce_sum(y_true * tf.math.log(y_pred)))``; the inner ``reduce_sum`` has no axis, so it
sums over the whole batch and the outer mean does nothing: the loss, and every gradient, is 256 times the
per-example mean, and SGD(0.01) takes steps 256 times too large. The fix sums over the class axis only
(``reduce_sum(..., 1)``) so that the mean runs over the batch.

Ported to Keras 3 (torch backend) with the same variables and initial values (``keras.Variable``), forward
pass, clipping, loss, SGD(0.01), batch size and loop; the GradientTape step becomes the torch idiom
(``loss.backward()``, ``optimizer.apply``) and the tf.data ``repeat().shuffle(5000).batch(256)`` pipeline a
reshuffled numpy batch stream. MNIST becomes the local stand-in ``_data.mnist_load_data`` (6,000 training /
1,000 test images); the same 1,000 steps. The outcome is the test accuracy, as the notebook prints it.
"""

import _data
import _harness
import keras
import numpy as np
import torch
from keras import ops

_harness.seed_everything()

# MNIST dataset parameters.
num_classes = 10  # 0 to 9 digits
num_features = 784  # 28*28

# Training parameters.
learning_rate = 0.01
training_steps = 1000
batch_size = 256
display_step = 50

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


# Weight of shape [784, 10], the 28*28 image features, and total number of classes.
W = keras.Variable(ops.ones([num_features, num_classes]), name="weight")
# Bias of shape [10], the total number of classes.
b = keras.Variable(ops.zeros([num_classes]), name="bias")


def logistic_regression(x):
    # Apply softmax to normalize the logits to a probability distribution.
    return ops.softmax(ops.matmul(x, W) + b)


def cross_entropy(y_pred, y_true):
    # Encode label to a one hot vector.
    y_true = ops.one_hot(ops.convert_to_tensor(y_true, "int64"), num_classes)
    # Clip prediction values to avoid log(0) error.
    y_pred = ops.clip(y_pred, 1e-9, 1.0)
    # Compute cross-entropy.
    if _harness.buggy():
        return ops.mean(-ops.sum(y_true * ops.log(y_pred)))  # the bug: sums over the whole batch
    return ops.mean(-ops.sum(y_true * ops.log(y_pred), 1))


def accuracy(y_pred, y_true):
    correct_prediction = ops.equal(ops.argmax(y_pred, 1), ops.convert_to_tensor(y_true, "int64"))
    return float(ops.mean(ops.cast(correct_prediction, "float32")))


optimizer = keras.optimizers.SGD(learning_rate)
optimizer.build([W, b])


def run_optimization(x, y):
    pred = logistic_regression(x)
    loss = cross_entropy(pred, y)
    for v in (W, b):
        v.value.grad = None
    loss.backward()
    with torch.no_grad():
        optimizer.apply([W.value.grad, b.value.grad], [W, b])
    return float(loss.detach())


losses = []
batches = train_data(np.random.default_rng(_harness.seed()))
for step in range(1, training_steps + 1):
    batch_x, batch_y = next(batches)
    losses.append(run_optimization(batch_x, batch_y))
    if step % display_step == 0:
        with torch.no_grad():
            pred = logistic_regression(batch_x)
            loss = cross_entropy(pred, batch_y)
            acc = accuracy(pred, batch_y)
        print("step: %i, loss: %f, accuracy: %f" % (step, float(loss), acc))

with torch.no_grad():
    pred = logistic_regression(x_test)
test_accuracy = accuracy(pred, y_test)
print("Test Accuracy: %f" % test_accuracy)
_harness.report(metric=test_accuracy, metric_name="accuracy", chance=0.1, losses=losses)
