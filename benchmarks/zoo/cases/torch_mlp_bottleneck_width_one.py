"""A hidden layer of width 1 between two wide ones (a typo: ``nn.Linear(64, 1)`` for ``nn.Linear(64, 16)``):
all information about ten classes must pass through a single number.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_mlp_bottleneck_width_one",
    framework="torch",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="Hidden layer `fc2` has 1 unit in a 10-class MLP; fixed: 16 units.",
    categories=("architecture",),
    layer="fc2",
    symptoms=("loss_not_decreasing", "dead_units", "accuracy_not_increasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    width = 1 if data.is_buggy(variant) else 16  # the bug: a one-unit bottleneck
    model = common.mlp(64, [64, width, 64], 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=8)
    return common.classification_outcome(model, losses, xt, y_test)
