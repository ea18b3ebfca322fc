"""Regression on raw prices (targets around 14,000) with MSE and Adam: Adam moves each weight by about lr per
step, so the outputs crawl up from 0 and after the whole run are still thousands below the targets; the loss
stays in the tens of millions. Fixed: standardize the targets (and un-scale the predictions).
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_mlp_unscaled_regression_targets",
    framework="keras",
    kind="bug",
    arch="mlp",
    task="regression",
    description="MSE regression on unscaled targets (mean ~14,000) with Adam; fixed: standardized targets.",
    categories=("data",),
    layer=None,
    symptoms=("slow_convergence", "loss_not_decreasing", "output_out_of_range"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    # the bug: the targets are left in their raw units
    x_train, x_test, y_train, y_test = data.friedman(seed, scale_targets=not data.is_buggy(variant))
    model = common_keras.mlp(10, [64, 64], 1)
    model.compile(keras.optimizers.Adam(learning_rate=0.001), "mse")  # the default Adam
    history = model.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0)
    return common_keras.regression_outcome(model, history, x_test, y_test)
