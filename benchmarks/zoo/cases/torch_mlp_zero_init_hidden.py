"""The first layer's weights and bias set to zero "to start from a clean slate": every ReLU input is exactly
0, ReLU's gradient at 0 is 0, so `fc1` never receives a gradient and the network sees a constant input.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_mlp_zero_init_hidden",
    framework="torch",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="Layer `fc1` initialized to all zeros (weights and bias); fixed: PyTorch's default init.",
    categories=("initialization",),
    layer="fc1",
    symptoms=("poor_initialization", "dead_units", "unchanged_weights", "constant_output"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.mlp(64, [64, 32], 10)
    if data.is_buggy(variant):  # the bug
        nn.init.zeros_(model.fc1.weight)
        nn.init.zeros_(model.fc1.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=10)
    return common.classification_outcome(model, losses, xt, y_test)
