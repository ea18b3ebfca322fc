"""A regression net ending in ReLU while the (standardized) targets are half negative: the output can never go
below zero, so every negative target is predicted as 0. Fixed: a linear output.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_mlp_relu_output_regression",
    framework="torch",
    kind="bug",
    arch="mlp",
    task="regression",
    description="ReLU on the regression output (`out_act`) while targets are negative for half the samples.",
    categories=("activation",),
    layer="out_act",
    symptoms=("output_out_of_range", "dead_units"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.friedman(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.mlp(10, [64, 64], 1, output=nn.ReLU() if data.is_buggy(variant) else None)  # the bug
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    loss_fn = nn.MSELoss()
    losses = common.fit(model, lambda out, t: loss_fn(out.squeeze(1), t), optimizer, x, y, epochs=20)
    return common.regression_outcome(model, losses, xt, y_test)
