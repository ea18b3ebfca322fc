"""A GRU classifier that reads ``output[:, 0]`` (the state after the first step) instead of ``output[:, -1]``:
the classifier sees one sample of a wave with a random phase, which says nothing about its frequency.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_gru_reads_first_timestep",
    framework="torch",
    kind="bug",
    arch="rnn",
    task="multiclass",
    description="The head reads the GRU (`rnn`) output at time step 0 instead of the last; fixed: step -1.",
    categories=("architecture",),
    layer="rnn",
    symptoms=("loss_not_decreasing", "accuracy_not_increasing", "vanishing_gradient"),
    premise="worse",
)


class Classifier(nn.Module):
    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step
        self.rnn = nn.GRU(1, 32, batch_first=True)
        self.out = nn.Linear(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sequence, _ = self.rnn(x)
        return self.out(sequence[:, self.step, :])


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.waves(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = Classifier(step=0 if data.is_buggy(variant) else -1)  # the bug: the first step, not the last
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=8)
    return common.classification_outcome(model, losses, xt, y_test)
