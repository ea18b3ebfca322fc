"""d2l-ai/d2l-en `chapter_linear-networks/linear-regression-scratch.md` (PyTorch tab) before commit 4b0b38d
("bug fix: linear reg scratch", #1000).

Buggy: the training loop calls ``l.mean().backward()`` on the minibatch losses, while the hand-written
``sgd`` already divides the gradient by ``batch_size``: the gradient is averaged twice, so every step is
``batch_size`` (10) times smaller than intended and three epochs leave the weights far from their targets.
Fixed, as in the commit: ``l.sum().backward()``.

Ported (re-written with the same data, model, loss, optimizer and loop; nothing shrunk): 1,000 synthetic
examples y = X [2, -3.4] + 4.2 + N(0, 0.01) with X ~ N(0, 1) (``synthetic_data``), the shuffling
``data_iter`` with batch 10, ``linreg`` (X w + b) with w ~ N(0, 0.01) and b = 0 as leaf tensors,
``squared_loss`` ((y_hat - y)^2 / 2), ``sgd`` (p -= lr * grad / batch_size, then zero the grad), lr 0.03,
3 epochs. The example prints the training loss and the error in w and b; the reported measure is the R^2 on
1,000 more examples from the same ``synthetic_data``.
"""

import random

import _harness
import torch


def synthetic_data(w, b, num_examples):
    x = torch.zeros(size=(num_examples, len(w))).normal_()
    y = torch.matmul(x, w) + b
    y += torch.zeros(size=y.shape).normal_(std=0.01)
    return x, y


def data_iter(batch_size, features, labels):
    num_examples = len(features)
    indices = list(range(num_examples))
    random.shuffle(indices)
    for i in range(0, num_examples, batch_size):
        j = torch.tensor(indices[i:min(i + batch_size, num_examples)])
        yield features[j], labels[j]


def linreg(x, w, b):
    return torch.matmul(x, w) + b


def squared_loss(y_hat, y):
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def sgd(params, lr, batch_size):
    for param in params:
        param.data.sub_(lr * param.grad / batch_size)
        param.grad.data.zero_()


_harness.seed_everything()
true_w = torch.tensor([2, -3.4])
true_b = 4.2
features, labels = synthetic_data(true_w, true_b, 1000)
batch_size = 10
w = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)
b = torch.zeros(1, requires_grad=True)

lr = 0.03
num_epochs = 3
net = linreg
loss = squared_loss
losses = []
for epoch in range(num_epochs):
    for x, y in data_iter(batch_size, features, labels):
        l = loss(net(x, w, b), y)  # noqa: E741
        if _harness.buggy():  # the bug: the mean, then sgd divides by batch_size once more
            l.mean().backward()
        else:
            l.sum().backward()
        sgd([w, b], lr, batch_size)
        losses.append(float(l.mean()))
    with torch.no_grad():
        train_l = loss(net(features, w, b), labels)
        print(f"epoch {epoch + 1}, loss {float(train_l.mean()):f}")
print("Error in estimating w", (true_w - w.reshape(true_w.shape)).tolist())
print("Error in estimating b", float(true_b - b))

test_x, test_y = synthetic_data(true_w, true_b, 1000)
with torch.no_grad():
    pred = net(test_x, w, b).reshape(-1)
r2 = 1.0 - float(((pred - test_y) ** 2).mean() / test_y.var(unbiased=False))
_harness.report(metric=r2, metric_name="R^2 (held-out synthetic data)", chance=0.0, losses=losses)
