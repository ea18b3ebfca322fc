"""A CNN on digits trained with SGD lr=1e-5: every step is tiny and the network barely moves from chance.

Modelled on "my model's accuracy stays at 10%" questions whose learning rate was copied from a fine-tuning
recipe (1e-5) into training from scratch.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_cnn_lr_too_low",
    framework="torch",
    kind="bug",
    arch="cnn",
    task="multiclass",
    description="SGD learning rate 1e-5 (fixed: 0.05) for a digits CNN trained from scratch: no learning.",
    categories=("learning_rate",),
    layer=None,
    symptoms=("slow_convergence", "loss_not_decreasing", "unchanged_weights"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed, images=True)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.cnn(10)
    lr = (
        1e-5 if data.is_buggy(variant) else 0.05
    )  # the bug: a fine-tuning learning rate for training from scratch
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=8)
    return common.classification_outcome(model, losses, xt, y_test)
