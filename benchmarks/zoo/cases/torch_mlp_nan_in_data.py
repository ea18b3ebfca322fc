"""A few missing values (NaN) left in the features: the first batch that contains one makes the loss NaN,
and the NaN gradient poisons every weight. Fixed: impute missing values with the training mean.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_mlp_nan_in_data",
    framework="torch",
    kind="bug",
    arch="mlp",
    task="regression",
    description="1% of the input values are NaN (missing measurements), not imputed; fixed: imputed.",
    categories=("data",),
    layer=None,
    symptoms=("numerical_error",),
    premise="nan",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.friedman(seed)
    rng = np.random.default_rng(seed)
    x_train[rng.random(x_train.shape) < 0.01] = np.nan  # missing measurements
    if not data.is_buggy(variant):  # the fix: impute; the bug is to skip this
        x_train = np.where(np.isnan(x_train), np.nanmean(x_train, axis=0), x_train).astype(np.float32)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.mlp(10, [64, 64], 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    loss_fn = nn.MSELoss()
    losses = common.fit(model, lambda out, t: loss_fn(out.squeeze(1), t), optimizer, x, y, epochs=15)
    return common.regression_outcome(model, losses, xt, y_test)
