"""Missing measurements (NaN) left in the features of a Keras regression: the first batch that contains one
makes the loss NaN and the update writes NaN into every weight. Fixed: impute with the training mean.
"""

from __future__ import annotations

import keras
import numpy as np

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_mlp_nan_in_data",
    framework="keras",
    kind="bug",
    arch="mlp",
    task="regression",
    description="1% of the input values are NaN and not imputed; fixed: mean imputation.",
    categories=("data",),
    layer=None,
    symptoms=("numerical_error",),
    premise="nan",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.friedman(seed)
    rng = np.random.default_rng(seed)
    x_train[rng.random(x_train.shape) < 0.01] = np.nan  # missing measurements
    if not data.is_buggy(variant):  # the fix: impute; the bug is to skip this
        x_train = np.where(np.isnan(x_train), np.nanmean(x_train, axis=0), x_train).astype(np.float32)
    model = common_keras.mlp(10, [64, 64], 1)
    model.compile(keras.optimizers.Adam(0.005), "mse")
    history = model.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0)
    return common_keras.regression_outcome(model, history, x_test, y_test)
