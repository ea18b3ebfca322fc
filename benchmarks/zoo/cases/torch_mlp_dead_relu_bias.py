"""The first layer's bias initialized to -10 (copied from a "sparse activations" trick): every ReLU in `fc1`'s
output is dead from the first step, no gradient flows through, and the rest of the net sees zeros.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_mlp_dead_relu_bias",
    framework="torch",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="Bias of `fc1` initialized to -10 so all its ReLUs are dead; fixed: default bias.",
    categories=("initialization",),
    layer="fc1",
    symptoms=("dead_units", "poor_initialization", "unchanged_weights"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.classification(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.mlp(20, [64, 32], 4)
    if data.is_buggy(variant):
        nn.init.constant_(model.fc1.bias, -10.0)  # the bug
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=10)
    return common.classification_outcome(model, losses, xt, y_test)
