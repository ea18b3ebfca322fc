"""d2l-ai/d2l-en `chapter_linear-networks/softmax-regression-concise.md` (TensorFlow tab) with d2l's
``train_epoch_ch3``, before commit 1ab988a ("[TF] Fix accuracy issues in a couple of notebooks", #1009).

Buggy (two lines, both removed by the commit): ``train_epoch_ch3`` hands a Keras optimizer
``[grad / X.shape[0] for grad in grads]``, dividing by the batch size (256) gradients that are already those
of the batch-mean Keras loss, so SGD at lr 0.1 takes steps 256 times too small; and the model gets a
``tf.keras.layers.Softmax()`` layer although the loss is ``SparseCategoricalCrossentropy(from_logits=True)``,
which squashes the gradients further. The linear classifier barely moves from its initialization. Fixed, as
in the commit: ``apply_gradients(zip(grads, params))`` and no Softmax layer.

Ported (re-written with the same model, loss, optimizer and loop): ``Sequential([Flatten(), Dense(10,
kernel_initializer=RandomNormal(0, 0.01))])``, ``SparseCategoricalCrossentropy(from_logits=True)``,
``keras.optimizers.SGD(learning_rate=0.1)``, batch 256, 10 epochs of ``train_ch3`` / ``train_epoch_ch3``
(per batch the mean loss ``loss(y, net(X))``, its gradients, ``apply_gradients`` on
``net.trainable_variables``; then the test accuracy by argmax). The ``tf.GradientTape`` becomes torch autograd
(Keras 3 on the torch backend: ``zero_grad``, ``backward``, gradients read from ``.value.grad``,
``optimizer.apply`` under ``no_grad``). ``load_data_fashion_mnist`` (pixels / 255 with a channel axis, int32
labels, ``.batch(256).shuffle(...)`` so whole batches are reshuffled each epoch) reads the local
Fashion-MNIST stand-in (6,000 training / 1,000 test images) instead of the download;
``Flatten(input_shape=(28, 28))`` -> ``keras.Input((28, 28, 1))`` + ``Flatten()``; the Animator goes.
Measure: the test accuracy after the last epoch.
"""

import _data
import _harness
import keras
import numpy as np
import torch
from keras import layers

_harness.seed_everything()


def load_data_fashion_mnist(batch_size, seed):
    (x_train, y_train), (x_test, y_test) = _data.fashion_mnist_load_data(seed=seed)

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
        if _harness.buggy():
            grads = [grad / x.shape[0] for grad in grads]  # the bug: the batch-mean gradient divided again
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


batch_size = 256
train_iter, test_iter = load_data_fashion_mnist(batch_size, seed=_harness.seed())

net = keras.models.Sequential()
net.add(keras.Input(shape=(28, 28, 1)))
net.add(layers.Flatten())
weight_initializer = keras.initializers.RandomNormal(mean=0.0, stddev=0.01)
net.add(layers.Dense(10, kernel_initializer=weight_initializer))
if _harness.buggy():
    net.add(layers.Softmax())  # the bug: a softmax layer before a from_logits loss
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
trainer = keras.optimizers.SGD(learning_rate=0.1)

num_epochs = 10
losses = []
test_acc = train_ch3(net, train_iter, test_iter, loss, num_epochs, trainer, losses)
_harness.report(metric=test_acc, metric_name="accuracy", chance=0.1, losses=losses)
