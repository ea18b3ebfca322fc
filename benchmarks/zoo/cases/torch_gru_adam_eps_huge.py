"""Adam with eps=1.0 (someone read "epsilon" as a step size): the denominator is dominated by eps, the
normalized step collapses to lr * gradient, and the GRU learns very slowly.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_gru_adam_eps_huge",
    framework="torch",
    kind="bug",
    arch="rnn",
    task="multiclass",
    description="Adam eps 1.0 (fixed: the default 1e-8) for a GRU classifier; tiny updates.",
    categories=("optimizer",),
    layer=None,
    symptoms=("slow_convergence", "loss_not_decreasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.waves(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.RecurrentClassifier(1, 3, cell="gru")
    eps = 1.0 if data.is_buggy(variant) else 1e-8  # the bug: eps is a tiny stabilizer, not a scale
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, eps=eps)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=8)
    return common.classification_outcome(model, losses, xt, y_test)
