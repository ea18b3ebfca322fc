"""An nn.LSTM built without ``batch_first=True`` but fed (batch, time, features) tensors: the LSTM runs along
the batch axis, mixing samples, and the "last step" it returns is the last time step of other samples.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_lstm_missing_batch_first",
    framework="torch",
    kind="bug",
    arch="rnn",
    task="multiclass",
    description="LSTM `rnn` lacks batch_first=True for (batch, time, feature) inputs; fixed: True.",
    categories=("architecture",),
    layer="rnn",
    symptoms=("loss_not_decreasing", "accuracy_not_increasing"),
    premise="worse",
)


class Classifier(nn.Module):
    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.rnn = nn.LSTM(1, 32, batch_first=batch_first)
        self.out = nn.Linear(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, time, 1)
        sequence, _ = self.rnn(x)
        return self.out(sequence[:, -1, :])


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.waves(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = Classifier(batch_first=not data.is_buggy(variant))  # the bug: batch_first left at its default
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=8)
    return common.classification_outcome(model, losses, xt, y_test)
