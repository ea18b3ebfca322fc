"""SGD with lr=5.0 on a regression MLP: the first updates overshoot, the loss explodes to inf and then NaN.

Modelled on the many "loss becomes nan after a few iterations" reports whose answer is "lower the learning
rate" (MSE gradients grow with the error, so a too-large step feeds on itself).
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_mlp_lr_too_high",
    framework="torch",
    kind="bug",
    arch="mlp",
    task="regression",
    description="SGD learning rate 5.0 (fixed: 0.05) on an MSE regression MLP; the loss diverges to NaN.",
    categories=("learning_rate",),
    layer=None,
    symptoms=("exploding_gradient", "numerical_error"),
    premise="nan",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.friedman(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.mlp(10, [64, 64], 1)
    lr = 5.0 if data.is_buggy(variant) else 0.05  # the bug: a learning rate 100x too large
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    losses = common.fit(model, lambda out, t: loss_fn(out.squeeze(1), t), optimizer, x, y, epochs=20)
    return common.regression_outcome(model, losses, xt, y_test)
