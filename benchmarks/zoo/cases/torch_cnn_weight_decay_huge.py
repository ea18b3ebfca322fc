"""SGD with weight_decay=1.0 (meant: 1e-4): the decay pulls every weight back to zero faster than the
gradient can move it, and the CNN stays near chance.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_cnn_weight_decay_huge",
    framework="torch",
    kind="bug",
    arch="cnn",
    task="multiclass",
    description="SGD weight_decay 1.0 (fixed: 1e-4) on a digits CNN; the weights shrink to zero.",
    categories=("optimizer",),
    layer=None,
    symptoms=("vanishing_gradient", "loss_not_decreasing", "constant_output"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed, images=True)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.cnn(10)
    decay = 1.0 if data.is_buggy(variant) else 1e-4  # the bug: L2 penalty four orders of magnitude too strong
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=decay)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=8)
    return common.classification_outcome(model, losses, xt, y_test)
