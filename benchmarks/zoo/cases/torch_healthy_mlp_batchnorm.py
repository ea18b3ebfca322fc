"""Healthy: a binary MLP with BatchNorm and a sigmoid head (BCEWithLogitsLoss), SGD with momentum."""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_healthy_mlp_batchnorm",
    framework="torch",
    kind="healthy",
    arch="mlp",
    task="binary",
    description="Breast-cancer MLP 30-32-16-1 with BatchNorm1d, BCEWithLogitsLoss, SGD momentum 0.9.",
)


def run(variant: str, seed: int) -> dict:
    data.require_healthy(variant)
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.breast_cancer(seed)
    x, y, xt = common.tensors(x_train, y_train.astype("float32"), x_test)
    model = common.mlp(30, [32, 16], 1, batchnorm=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.BCEWithLogitsLoss()
    losses = common.fit(model, lambda out, t: loss_fn(out.squeeze(1), t), optimizer, x, y, epochs=15)
    return common.classification_outcome(model, losses, xt, y_test, threshold=0.0)
