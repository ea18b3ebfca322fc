"""d2l-ai/d2l-en `chapter_multilayer-perceptrons/dropout.md` (concise implementation, TensorFlow tab) with
d2l's ``train_ch3`` / ``train_epoch_ch3``, before commit f2d1c50 ("Try fixing dropout").

An MLP on Fashion-MNIST: Flatten, Dense(256, relu), Dropout(0.2), Dense(256, relu), Dropout(0.5),
Dense(10) without activation (logits), Keras SGD lr 0.5, batch 256, 10 epochs; ``train_epoch_ch3`` takes
per batch the Keras loss ``loss(y, net(X))``, its gradients and ``apply_gradients``. The bug: the loss is
``tf.keras.losses.SparseCategoricalCrossentropy()``, whose default ``from_logits=False`` treats the raw
logits as probabilities (Keras rescales them to sum to one and clips them to [eps, 1 - eps] before the
log); the fix (commit f2d1c50) passes ``from_logits=True``.

Ported (re-written with the same model, loss, optimizer and loop): the tf.GradientTape becomes torch
autograd (Keras 3 on the torch backend); the Fashion-MNIST download -> the local stand-in (15,000 / 1,000
images). ``net(X)`` is called without ``training=True`` as in d2l's loop (so, there as here, the Dropout
layers are inactive). Measure: the test accuracy after the last epoch.
"""

import _data
import _harness
import keras
import numpy as np
import torch
from keras import layers

_harness.seed_everything()


def load_data_fashion_mnist(batch_size, seed):
    (x_train, y_train), (x_test, y_test) = _data.fashion_mnist_load_data(seed=seed, n_train=15000)

    def process(x, y):
        return (x[..., None] / 255.0).astype(np.float32), y.astype(np.int32)

    def batches(x, y):
        return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]

    return batches(*process(x_train, y_train)), batches(*process(x_test, y_test))


def accuracy(y_hat, y):
    return float((np.argmax(y_hat, axis=1).astype(y.dtype) == y).sum())


def evaluate_accuracy(net, data_iter):
    correct, total = 0.0, 0
    for x, y in data_iter:
        with torch.no_grad():
            y_hat = keras.ops.convert_to_numpy(net(x))
        correct, total = correct + accuracy(y_hat, y), total + len(y)
    return correct / total


def train_epoch_ch3(net, train_iter, loss, updater, losses):
    loss_sum, acc_sum, n = 0.0, 0.0, 0
    for b in np.random.permutation(len(train_iter)):  # .batch(batch_size).shuffle(...): the batches reshuffled
        x, y = train_iter[b]
        y_hat = net(x)
        l = loss(y, y_hat)  # noqa: E741
        net.zero_grad()
        l.backward()
        params = net.trainable_variables
        grads = [v.value.grad for v in params]
        with torch.no_grad():
            updater.apply(grads, params)
        losses.append(float(l))
        loss_sum += float(l) * len(y)
        acc_sum += accuracy(keras.ops.convert_to_numpy(y_hat.detach()), y)
        n += len(y)
    return loss_sum / n, acc_sum / n


def train_ch3(net, train_iter, test_iter, loss, num_epochs, updater, losses):
    test_acc = 0.0
    for epoch in range(num_epochs):
        train_loss, train_acc = train_epoch_ch3(net, train_iter, loss, updater, losses)
        test_acc = evaluate_accuracy(net, test_iter)
        print(f"epoch {epoch + 1}: train loss {train_loss:.3f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}")
    return test_acc


dropout1, dropout2 = 0.2, 0.5
net = keras.models.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Flatten(),
    layers.Dense(256, activation="relu"),
    # a dropout layer after the first fully connected layer
    layers.Dropout(dropout1),
    layers.Dense(256, activation="relu"),
    # a dropout layer after the second fully connected layer
    layers.Dropout(dropout2),
    layers.Dense(10),
])

num_epochs, lr, batch_size = 10, 0.5, 256
if _harness.buggy():
    loss = keras.losses.SparseCategoricalCrossentropy()  # the bug: logits read as probabilities
else:
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
train_iter, test_iter = load_data_fashion_mnist(batch_size, seed=_harness.seed())

trainer = keras.optimizers.SGD(learning_rate=lr)
losses = []
test_acc = train_ch3(net, train_iter, test_iter, loss, num_epochs, trainer, losses)
_harness.report(metric=test_acc, metric_name="accuracy", chance=0.1, losses=losses)
