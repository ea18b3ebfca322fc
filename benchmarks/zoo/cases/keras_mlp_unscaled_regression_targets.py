"""Regression on raw prices (targets around 14,000) with MSE and SGD: the initial errors are in the thousands,
the gradients are millions of times larger than usual and the loss overflows to NaN.
Fixed: standardize the targets (and un-scale the predictions).
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
    description="MSE regression on unscaled targets (mean ~14,000) with SGD; fixed: standardized targets.",
    categories=("data",),
    layer=None,
    symptoms=("exploding_gradient", "numerical_error"),
    premise="nan",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    # the bug: the targets are left in their raw units
    x_train, x_test, y_train, y_test = data.friedman(seed, scale_targets=not data.is_buggy(variant))
    model = common_keras.mlp(10, [64, 64], 1)
    model.compile(keras.optimizers.SGD(learning_rate=0.01, momentum=0.9), "mse")
    history = model.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0)
    return common_keras.regression_outcome(model, history, x_test, y_test)
