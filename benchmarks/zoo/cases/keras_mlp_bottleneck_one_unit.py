"""A Dense(1) layer in the middle of a 10-class MLP (``Dense(1)`` typed for ``Dense(16)``): every class has to
be encoded in one scalar, and accuracy plateaus far below the fixed twin's.
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_mlp_bottleneck_one_unit",
    framework="keras",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="Hidden layer `bottleneck` has 1 unit in a 10-class MLP; fixed: 16 units.",
    categories=("architecture",),
    layer="bottleneck",
    symptoms=("loss_not_decreasing", "dead_units", "accuracy_not_increasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed)
    width = 1 if data.is_buggy(variant) else 16  # the bug
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu", name="hidden1"),
            keras.layers.Dense(width, activation="relu", name="bottleneck"),
            keras.layers.Dense(64, activation="relu", name="hidden2"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy")
    history = model.fit(x_train, y_train, epochs=10, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
