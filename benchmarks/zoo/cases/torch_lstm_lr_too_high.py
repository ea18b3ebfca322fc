"""An LSTM sequence classifier trained with Adam lr=0.5: the gates saturate and the loss bounces at chance.

Modelled on RNN questions ("LSTM loss does not decrease", "accuracy stuck at 33%") where Adam's lr was set
like SGD's.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_lstm_lr_too_high",
    framework="torch",
    kind="bug",
    arch="rnn",
    task="multiclass",
    description="Adam learning rate 0.5 (fixed: 0.01) for an LSTM classifier; loss oscillates at chance.",
    categories=("learning_rate",),
    layer=None,
    symptoms=("oscillating_loss", "saturated_activation", "loss_not_decreasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.waves(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.RecurrentClassifier(1, 3, cell="lstm")
    lr = 0.5 if data.is_buggy(variant) else 0.01  # the bug: Adam with an SGD-sized learning rate
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=8)
    return common.classification_outcome(model, losses, xt, y_test)
