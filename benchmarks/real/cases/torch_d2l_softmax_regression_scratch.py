"""d2l-ai/d2l-en `chapter_linear-networks/softmax-regression-scratch.md` (PyTorch tab, release 0.17):
softmax regression from scratch on Fashion-MNIST.

Ported (re-written with the same data pipeline, model, loss, updater and loop): ``load_data_fashion_mnist``
(``ToTensor`` images (1, 28, 28) in [0, 1], a shuffled training loader and an ordered test loader, batch
256); ``W`` ~ N(0, 0.01) (784 x 10) and ``b`` = 0 as leaf tensors with requires_grad; the hand-written
``softmax`` (exp, divided by the row sums, no max subtraction) of ``X.reshape(-1, 784) @ W + b``; the
hand-written ``cross_entropy`` (minus the log of the picked probability, one loss per example);
``train_epoch_ch3``'s custom-updater branch: ``l.sum().backward()`` then ``updater(X.shape[0])``, which is
d2l's ``sgd`` (under ``torch.no_grad()``: ``param -= lr * param.grad / batch_size``, then
``param.grad.zero_()``), lr 0.1; ``train_ch3`` evaluates the test accuracy (``evaluate_accuracy`` under
``torch.no_grad()``) after every epoch. The reported measure is the last epoch's test accuracy.
"""

import _data
import _harness
import numpy as np
import torch
from torch.utils import data

_harness.seed_everything()


def load_data_fashion_mnist(batch_size):
    """The d2l loaders over the local Fashion-MNIST stand-in (what ToTensor makes of the uint8 images)."""
    (x_train, y_train), (x_test, y_test) = _data.fashion_mnist_load_data(
        seed=_harness.seed(), n_train=12000, n_test=2000)

    def to_dataset(images, labels):
        images = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
        return data.TensorDataset(images, torch.from_numpy(labels.astype(np.int64)))

    return (data.DataLoader(to_dataset(x_train, y_train), batch_size, shuffle=True, num_workers=0),
            data.DataLoader(to_dataset(x_test, y_test), batch_size, shuffle=False, num_workers=0))


batch_size = 256
train_iter, test_iter = load_data_fashion_mnist(batch_size)

num_inputs = 784
num_outputs = 10
W = torch.normal(0, 0.01, size=(num_inputs, num_outputs), requires_grad=True)
b = torch.zeros(num_outputs, requires_grad=True)


def softmax(X):  # noqa: N803 (d2l's names)
    X_exp = torch.exp(X)  # noqa: N806
    partition = X_exp.sum(1, keepdim=True)
    return X_exp / partition  # broadcast over the rows


def net(X):  # noqa: N803
    return softmax(torch.matmul(X.reshape((-1, W.shape[0])), W) + b)


def cross_entropy(y_hat, y):
    return -torch.log(y_hat[range(len(y_hat)), y])


def accuracy(y_hat, y):
    """The number of correct predictions."""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


class Accumulator:
    """Sums over n variables."""

    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args, strict=True)]

    def __getitem__(self, idx):
        return self.data[idx]


def evaluate_accuracy(net, data_iter):
    """The accuracy of a model on a data set."""
    if isinstance(net, torch.nn.Module):
        net.eval()
    metric = Accumulator(2)  # correct predictions, predictions
    with torch.no_grad():
        for X, y in data_iter:  # noqa: N806
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


def sgd(params, lr, batch_size):
    """Minibatch stochastic gradient descent."""
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


losses = []


def train_epoch_ch3(net, train_iter, loss, updater):
    """One epoch of chapter 3's training loop."""
    if isinstance(net, torch.nn.Module):
        net.train()
    metric = Accumulator(3)  # summed training loss, summed training accuracy, examples
    for X, y in train_iter:  # noqa: N806
        y_hat = net(X)
        l = loss(y_hat, y)  # noqa: E741
        if isinstance(updater, torch.optim.Optimizer):
            updater.zero_grad()
            l.mean().backward()
            updater.step()
        else:
            l.sum().backward()
            updater(X.shape[0])
        metric.add(float(l.sum()), accuracy(y_hat, y), y.numel())
        losses.append(float(l.mean()))
    return metric[0] / metric[2], metric[1] / metric[2]


def train_ch3(net, train_iter, test_iter, loss, num_epochs, updater):
    """Chapter 3's training function (the animated plot becomes a printed line per epoch)."""
    test_acc = 0.0
    for epoch in range(num_epochs):
        train_loss, train_acc = train_epoch_ch3(net, train_iter, loss, updater)
        test_acc = evaluate_accuracy(net, test_iter)
        print(f"epoch {epoch + 1}: train loss {train_loss:.3f}, train acc {train_acc:.3f}, "
              f"test acc {test_acc:.3f}")
    return test_acc


lr = 0.1


def updater(batch_size):
    return sgd([W, b], lr, batch_size)


num_epochs = 10
test_acc = train_ch3(net, train_iter, test_iter, cross_entropy, num_epochs, updater)
_harness.report(metric=test_acc, metric_name="test accuracy", chance=0.1, losses=losses)
