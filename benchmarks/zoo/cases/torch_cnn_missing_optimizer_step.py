"""The training loop computes the loss and calls ``backward()`` but never ``optimizer.step()``: gradients are
computed and thrown away, the weights never change.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_cnn_missing_optimizer_step",
    framework="torch",
    kind="bug",
    arch="cnn",
    task="multiclass",
    description="optimizer.step() missing from the loop; the CNN's weights never change.",
    categories=("training",),
    layer=None,
    symptoms=("unchanged_weights", "loss_not_decreasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed, images=True)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.cnn(10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(8):
        for idx in common.batches(len(x), 32):
            optimizer.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            if not data.is_buggy(variant):
                optimizer.step()  # the fix; the buggy loop never updates the weights
            losses.append(loss.item())
    return common.classification_outcome(model, losses, xt, y_test)
