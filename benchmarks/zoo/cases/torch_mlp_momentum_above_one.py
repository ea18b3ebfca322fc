"""SGD with momentum=1.5 (a typo for 0.5): the velocity grows geometrically and the weights blow up to NaN.

torch.optim.SGD rejects a negative momentum but accepts any value above 1.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_mlp_momentum_above_one",
    framework="torch",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="SGD momentum 1.5 (fixed: 0.5) on a digits MLP; updates grow without bound until NaN.",
    categories=("optimizer",),
    layer=None,
    symptoms=("exploding_tensor", "numerical_error"),
    premise="nan",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.mlp(64, [64], 10)
    momentum = 1.5 if data.is_buggy(variant) else 0.5  # the bug: momentum must be below 1
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=momentum)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=10)
    return common.classification_outcome(model, losses, xt, y_test)
