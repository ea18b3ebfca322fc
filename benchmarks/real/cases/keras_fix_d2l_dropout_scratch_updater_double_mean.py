"""d2l-ai/d2l-en `chapter_multilayer-perceptrons/dropout.md` (implementation from scratch, TensorFlow tab)
with d2l's ``train_ch3`` / ``train_epoch_ch3``, before commit 2bddbc5 ("[TF] Fix accuracy in dropout scratch
version", PR #1018).

An MLP on Fashion-MNIST written with raw variables: W1 (784x256, normal std 0.01), W2 (256x256, normal std
0.1), W3 (256x10, truncated normal std 0.01), zero biases, ReLU hidden layers (the dropout branches only run
when ``is_training``, which the loop never sets) and a softmax output, scored by the Keras loss
``SparseCategoricalCrossentropy()``; 10 epochs, batch 256, learning rate 0.5. The bug: the parameters are
updated by ``d2l.Updater(params, lr)``, whose ``sgd`` divides every gradient by the batch size, but the Keras
loss is already the batch mean, so each step is 256 times too small (an effective learning rate of 0.002).
The fix (commit 2bddbc5) rewrites the network as a ``tf.keras.Model`` with the same Dense(256, relu) /
Dense(256, relu) / Dense(10, softmax) layers and trains it with ``tf.keras.optimizers.SGD(learning_rate=lr)``,
which ``train_epoch_ch3`` applies to the mean-loss gradients without the division.

Ported (re-written with the same model, loss, updater and loop): the tf.GradientTape becomes torch autograd
(Keras 3 on the torch backend); the Fashion-MNIST download -> the local stand-in (15,000 / 1,000 images).
Measure: the test accuracy after the last epoch.
"""

import _data
import _harness
import keras
import numpy as np
import torch
from keras import layers, ops

_harness.seed_everything()


def load_data_fashion_mnist(batch_size, seed):
    (x_train, y_train), (x_test, y_test) = _data.fashion_mnist_load_data(seed=seed, n_train=15000)

    def process(x, y):
        return (x[..., None] / 255.0).astype(np.float32), y.astype(np.int32)

    def batches(x, y):
        return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]

    return batches(*process(x_train, y_train)), batches(*process(x_test, y_test))


def dropout_layer(X, dropout):
    assert 0 <= dropout <= 1
    if dropout == 1:  # all elements are dropped out
        return ops.zeros_like(X)
    if dropout == 0:  # all elements are kept
        return X
    mask = ops.cast(keras.random.uniform(ops.shape(X), minval=0, maxval=1) < 1 - dropout, "float32")
    return mask * ops.cast(X, "float32") / (1.0 - dropout)


def accuracy(y_hat, y):
    return float((np.argmax(y_hat, axis=1).astype(y.dtype) == y).sum())


def evaluate_accuracy(net, data_iter):
    correct, total = 0.0, 0
    for x, y in data_iter:
        with torch.no_grad():
            y_hat = ops.convert_to_numpy(net(x))
        correct, total = correct + accuracy(y_hat, y), total + len(y)
    return correct / total


class Updater:
    """d2l's Updater: minibatch SGD that divides the gradients by the batch size (``d2l.sgd``)."""

    def __init__(self, params, lr):
        self.params = params
        self.lr = lr

    def __call__(self, batch_size, grads):
        with torch.no_grad():
            for param, grad in zip(self.params, grads):
                param.assign(param - self.lr * grad / batch_size)


def train_epoch_ch3(net, train_iter, loss, updater, losses):
    loss_sum, acc_sum, n = 0.0, 0.0, 0
    for b in np.random.permutation(len(train_iter)):  # .batch(batch_size).shuffle(...): the batches reshuffled
        x, y = train_iter[b]
        if isinstance(updater, keras.optimizers.Optimizer):
            params = net.trainable_variables
        else:
            params = updater.params
        for v in params:
            v.value.grad = None
        y_hat = net(x)
        l = loss(y, y_hat)  # noqa: E741
        l.backward()
        grads = [v.value.grad for v in params]
        if isinstance(updater, keras.optimizers.Optimizer):
            with torch.no_grad():
                updater.apply(grads, params)
        else:
            updater(x.shape[0], grads)
        losses.append(float(l))
        loss_sum += float(l) * len(y)
        acc_sum += accuracy(ops.convert_to_numpy(y_hat.detach()), y)
        n += len(y)
    return loss_sum / n, acc_sum / n


def train_ch3(net, train_iter, test_iter, loss, num_epochs, updater, losses):
    test_acc = 0.0
    for epoch in range(num_epochs):
        train_loss, train_acc = train_epoch_ch3(net, train_iter, loss, updater, losses)
        test_acc = evaluate_accuracy(net, test_iter)
        print(f"epoch {epoch + 1}: train loss {train_loss:.3f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}")
    return test_acc


num_outputs, num_hiddens1, num_hiddens2 = 10, 256, 256
num_inputs = 784
dropout1, dropout2 = 0.2, 0.5
num_epochs, lr, batch_size = 10, 0.5, 256
loss = keras.losses.SparseCategoricalCrossentropy()
train_iter, test_iter = load_data_fashion_mnist(batch_size, seed=_harness.seed())
losses = []

if _harness.buggy():
    # the bug: raw variables trained by d2l.Updater, which divides the batch-mean loss's gradients again
    W1 = keras.Variable(keras.random.normal((num_inputs, num_hiddens1), stddev=0.01))
    b1 = keras.Variable(ops.zeros(num_hiddens1))
    W2 = keras.Variable(keras.random.normal((num_hiddens1, num_hiddens2), stddev=0.1))
    b2 = keras.Variable(ops.zeros(num_hiddens2))
    W3 = keras.Variable(keras.random.truncated_normal((num_hiddens2, num_outputs), stddev=0.01))
    b3 = keras.Variable(ops.zeros(num_outputs))
    params = [W1, b1, W2, b2, W3, b3]

    def net(X, is_training=False):
        X = ops.reshape(X, (-1, num_inputs))
        H1 = ops.relu(ops.matmul(ops.cast(X, "float32"), W1) + b1)
        # dropout only when training the model (the loop never passes is_training=True)
        H2 = ops.relu(ops.matmul(H1, W2) + b2)
        return ops.softmax(ops.matmul(H2, W3) + b3)

    updater = Updater(params, lr)
else:
    class Net(keras.Model):
        def __init__(self, num_outputs, num_hiddens1, num_hiddens2):
            super().__init__()
            self.input_layer = layers.Flatten()
            self.hidden1 = layers.Dense(num_hiddens1, activation="relu")
            self.hidden2 = layers.Dense(num_hiddens2, activation="relu")
            self.output_layer = layers.Dense(num_outputs, activation="softmax")

        def call(self, inputs, training=None):
            x = self.input_layer(inputs)
            x = self.hidden1(x)
            if training:
                x = dropout_layer(x, dropout1)
            x = self.hidden2(x)
            if training:
                x = dropout_layer(x, dropout2)
            return self.output_layer(x)

    net = Net(num_outputs, num_hiddens1, num_hiddens2)
    net.build((None, 28, 28, 1))
    updater = keras.optimizers.SGD(learning_rate=lr)

test_acc = train_ch3(net, train_iter, test_iter, loss, num_epochs, updater, losses)
_harness.report(metric=test_acc, metric_name="accuracy", chance=0.1, losses=losses)
