"""The training loop never calls ``optimizer.zero_grad()``: gradients accumulate over every step, so the
effective step grows linearly with time until training diverges.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_mlp_missing_zero_grad",
    framework="torch",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="optimizer.zero_grad() missing from the loop; gradients accumulate and training diverges.",
    categories=("training",),
    layer=None,
    symptoms=("exploding_gradient", "oscillating_loss", "loss_not_decreasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.mlp(64, [64], 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(10):
        for idx in common.batches(len(x), 32):
            if not data.is_buggy(variant):
                optimizer.zero_grad()  # the fix; the buggy loop forgets it
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return common.classification_outcome(model, losses, xt, y_test)
