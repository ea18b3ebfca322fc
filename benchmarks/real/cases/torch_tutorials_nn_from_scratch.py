"""pytorch/tutorials `beginner_source/nn_tutorial.py` ("What is torch.nn really?"), its first part: a neural
net from scratch, without torch.nn.

Ported (re-written with the same model, loss, update and loop): flattened 784-pixel MNIST images in [0, 1]
(the tutorial's pickled arrays), a logistic-regression model made of two plain tensors, ``weights``
(784 x 10, Xavier-style ``randn / sqrt(784)``, ``requires_grad_()`` set after the scaling) and ``bias``
(zeros, requires_grad), a hand-written ``log_softmax`` (x minus the log of the summed exponentials) applied
to ``xb @ weights + bias``, the hand-written ``nll`` (minus the mean of the picked log-probabilities),
batch size 64, lr 0.5, 2 epochs over the training set in order (no shuffling, slices ``i * bs`` to
``i * bs + bs``), and after each ``loss.backward()`` the manual step under ``torch.no_grad()``:
``weights -= weights.grad * lr``, ``bias -= bias.grad * lr``, then ``weights.grad.zero_()`` and
``bias.grad.zero_()``. The tutorial prints the loss and accuracy of the last batch; the reported measure is
the accuracy on the held-out validation images.
"""

import math

import _data
import _harness
import numpy as np
import torch

_harness.seed_everything()

# the tutorial's mnist.pkl.gz: float32 rows of 784 pixels in [0, 1] and int64 labels
(train_images, train_labels), (valid_images, valid_labels) = _data.mnist_load_data(
    seed=_harness.seed(), n_train=20000, n_test=2000)
x_train = train_images.reshape(len(train_images), 784).astype(np.float32) / 255.0
x_valid = valid_images.reshape(len(valid_images), 784).astype(np.float32) / 255.0
y_train = train_labels.astype(np.int64)
y_valid = valid_labels.astype(np.int64)

x_train, y_train, x_valid, y_valid = map(torch.tensor, (x_train, y_train, x_valid, y_valid))
n, c = x_train.shape
print(x_train.shape, y_train.min(), y_train.max())

# Xavier-style initialisation; requires_grad is switched on after the scaling
weights = torch.randn(784, 10) / math.sqrt(784)
weights.requires_grad_()
bias = torch.zeros(10, requires_grad=True)


def log_softmax(x):
    return x - x.exp().sum(-1).log().unsqueeze(-1)


def model(xb):
    return log_softmax(xb @ weights + bias)


def nll(input, target):  # noqa: A002 (the tutorial's name)
    return -input[range(target.shape[0]), target].mean()


loss_func = nll


def accuracy(out, yb):
    preds = torch.argmax(out, dim=1)
    return (preds == yb).float().mean()


bs = 64  # batch size
lr = 0.5  # learning rate
epochs = 2  # how many epochs to train for

losses = []
for epoch in range(epochs):
    for i in range((n - 1) // bs + 1):
        start_i = i * bs
        end_i = start_i + bs
        xb = x_train[start_i:end_i]
        yb = y_train[start_i:end_i]
        pred = model(xb)
        loss = loss_func(pred, yb)

        loss.backward()
        with torch.no_grad():
            weights -= weights.grad * lr
            bias -= bias.grad * lr
            weights.grad.zero_()
            bias.grad.zero_()
        losses.append(loss.item())

print(loss_func(model(xb), yb), accuracy(model(xb), yb))

with torch.no_grad():
    valid_acc = float(accuracy(model(x_valid), y_valid))
print(f"validation accuracy {valid_acc:.3f}")
_harness.report(metric=valid_acc, metric_name="validation accuracy", chance=0.1, losses=losses)
