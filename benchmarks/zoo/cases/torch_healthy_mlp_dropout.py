"""Healthy: a digits MLP with dropout, trained with Adam."""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_healthy_mlp_dropout",
    framework="torch",
    kind="healthy",
    arch="mlp",
    task="multiclass",
    description="Digits MLP 64-128-64-10 with dropout 0.2, softmax head (CrossEntropyLoss), Adam.",
)


def run(variant: str, seed: int) -> dict:
    data.require_healthy(variant)
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.mlp(64, [128, 64], 10, dropout=0.2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.002)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=10)
    return common.classification_outcome(model, losses, xt, y_test)
