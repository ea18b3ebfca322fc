"""The first hidden layer built with kernel_initializer="zeros" (bias zero by default): every ReLU input is 0,
ReLU's gradient at 0 is 0, so `hidden1` never learns and the layers after it see a constant.
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_mlp_zeros_kernel",
    framework="keras",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="Layer `hidden1` has kernel_initializer='zeros'; fixed: the default glorot_uniform.",
    categories=("initialization",),
    layer="hidden1",
    symptoms=("poor_initialization", "dead_units", "unchanged_weights", "constant_output"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed)
    init = "zeros" if data.is_buggy(variant) else "glorot_uniform"  # the bug
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu", kernel_initializer=init, name="hidden1"),
            keras.layers.Dense(32, activation="relu", name="hidden2"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.001), "sparse_categorical_crossentropy")
    history = model.fit(x_train, y_train, epochs=10, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
