"""defects4ML bug 003 (gabrieleangeletti/Deep-Learning-TensorFlow, `run_logistic_regression.py`): a softmax
logistic regression on MNIST whose hand-written cross-entropy takes ``log`` of the raw probabilities.

The original (TensorFlow 1 graph code) builds ``softmax(x W + b)`` with W and b initialised to zeros and
minimises ``-mean(y * log(p) + (1 - y) * log(1 - p))`` over all batch x class entries with Adam (lr 0.01),
batch size 10, 10 epochs, reshuffling the training set every epoch. The bug: once a probability rounds to
exactly 0 or 1 the logs give -inf and ``0 * -inf`` turns the loss NaN. The fix (commit 726b371) clips both
arguments of ``log`` to at least 1e-10.

Ported to PyTorch with the same math (linear layer + softmax, the same loss expression, Adam, loop shape):
the MNIST download becomes the local stand-in (6,000 train / 1,000 test images, flattened, in [0, 1]).
"""

import _data
import _harness
import numpy as np
import torch
from torch import nn

_harness.seed_everything()

learning_rate = 0.01
num_epochs = 10
batch_size = 10


class LogisticRegression(nn.Module):
    def __init__(self, n_features, n_classes):
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x):
        return torch.softmax(self.linear(x), dim=1)


def cross_entropy(model_output, ref_input):
    if _harness.buggy():  # the bug
        return -torch.mean(ref_input * torch.log(model_output) + (1 - ref_input) * torch.log(1 - model_output))
    return -torch.mean(ref_input * torch.log(torch.clamp(model_output, min=1e-10))
                       + (1 - ref_input) * torch.log(torch.clamp(1 - model_output, min=1e-10)))


def one_hot(labels):
    out = np.zeros((len(labels), 10), dtype=np.float32)
    out[np.arange(len(labels)), labels] = 1.0
    return out


(x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed())
tr_x = torch.from_numpy(x_train.reshape(len(x_train), -1).astype(np.float32) / 255.0)
tr_y = torch.from_numpy(one_hot(y_train))
te_x = torch.from_numpy(x_test.reshape(len(x_test), -1).astype(np.float32) / 255.0)
te_y = torch.from_numpy(one_hot(y_test))

model = LogisticRegression(tr_x.shape[1], tr_y.shape[1])
optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)

losses = []
for epoch in range(num_epochs):
    order = np.random.permutation(len(tr_x))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        optimizer.zero_grad()
        loss = cross_entropy(model(tr_x[idx]), tr_y[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        accuracy = (model(te_x).argmax(1) == te_y.argmax(1)).float().mean().item()
    print(f"Accuracy at step {epoch}: {accuracy:.4f} (last loss {losses[-1]:.4f})")

_harness.report(metric=accuracy, metric_name="accuracy", chance=0.1, losses=losses)
