"""Healthy: a small digits CNN trained with SGD and momentum."""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_healthy_cnn",
    framework="torch",
    kind="healthy",
    arch="cnn",
    task="multiclass",
    description="Digits CNN (conv 8, conv 16, linear), CrossEntropyLoss, SGD lr 0.05 momentum 0.9.",
)


def run(variant: str, seed: int) -> dict:
    data.require_healthy(variant)
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed, images=True)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.cnn(10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=8)
    return common.classification_outcome(model, losses, xt, y_test)
