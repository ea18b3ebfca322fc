"""Healthy: a digits autoencoder 64-32-8-32-64 with a sigmoid output, MSE, Adam; metric: test R^2."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_healthy_autoencoder",
    framework="torch",
    kind="healthy",
    arch="autoencoder",
    task="regression",
    description="Digits autoencoder (8-unit code), sigmoid reconstruction in [0, 1], MSE, Adam.",
)


def run(variant: str, seed: int) -> dict:
    data.require_healthy(variant)
    common.seed_everything(seed)
    x_train, x_test, _, _ = data.digits(seed)
    x, xt = common.tensors(x_train, x_test)
    model = nn.Sequential(
        OrderedDict(
            [
                ("enc1", nn.Linear(64, 32)),
                ("enc_act", nn.ReLU()),
                ("code", nn.Linear(32, 8)),
                ("dec1", nn.Linear(8, 32)),
                ("dec_act", nn.ReLU()),
                ("out", nn.Linear(32, 64)),
                ("out_act", nn.Sigmoid()),
            ]
        )
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    losses = common.fit(model, nn.MSELoss(), optimizer, x, x, epochs=20)
    return common.regression_outcome(model, losses, xt, x_test)
