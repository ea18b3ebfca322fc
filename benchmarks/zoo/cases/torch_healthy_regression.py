"""Healthy: a regression MLP on Friedman #1 (standardized targets), MSE, Adam."""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_healthy_regression",
    framework="torch",
    kind="healthy",
    arch="mlp",
    task="regression",
    description="Friedman #1 regression MLP 10-64-64-1 (tanh), linear output, MSE, Adam.",
)


def run(variant: str, seed: int) -> dict:
    data.require_healthy(variant)
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.friedman(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.mlp(10, [64, 64], 1, activation=nn.Tanh)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    loss_fn = nn.MSELoss()
    losses = common.fit(model, lambda out, t: loss_fn(out.squeeze(1), t), optimizer, x, y, epochs=20)
    return common.regression_outcome(model, losses, xt, y_test)
