"""Five stacked sigmoid layers trained with SGD: each sigmoid scales the gradient by at most 0.25, so the
first layers receive almost nothing (vanishing gradients) and the network stays at chance. Fixed: ReLU.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_mlp_deep_sigmoid",
    framework="torch",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="A 5-hidden-layer MLP with Sigmoid activations (`act1`...`act5`); fixed: ReLU.",
    categories=("activation", "architecture"),
    layer="act1",
    symptoms=("vanishing_gradient", "saturated_activation", "loss_not_decreasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    activation = nn.Sigmoid if data.is_buggy(variant) else nn.ReLU  # the bug: a deep stack of sigmoids
    model = common.mlp(64, [64] * 5, 10, activation=activation)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=10)
    return common.classification_outcome(model, losses, xt, y_test)
