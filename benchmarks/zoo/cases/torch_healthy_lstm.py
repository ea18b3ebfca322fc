"""Healthy: an LSTM sequence classifier (wave frequency), Adam."""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_healthy_lstm",
    framework="torch",
    kind="healthy",
    arch="rnn",
    task="multiclass",
    description="LSTM(32) over 24-step noisy sine waves, 3 frequency classes, Adam lr 0.01.",
)


def run(variant: str, seed: int) -> dict:
    data.require_healthy(variant)
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.waves(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.RecurrentClassifier(1, 3, cell="lstm")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=8)
    return common.classification_outcome(model, losses, xt, y_test)
