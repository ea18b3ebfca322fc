"""A binary classifier with one sigmoid unit compiled with categorical_crossentropy: Keras normalizes the
predictions over the last axis, one unit normalizes to 1.0, the loss is identically 0 and no gradient flows.
Fixed: binary_crossentropy.
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_mlp_categorical_ce_one_unit",
    framework="keras",
    kind="bug",
    arch="mlp",
    task="binary",
    description="categorical_crossentropy on a 1-unit sigmoid output: loss is always 0. Fixed: binary CE.",
    categories=("loss",),
    layer=None,
    symptoms=("activation_loss_mismatch", "loss_not_decreasing", "unchanged_weights"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.breast_cancer(seed)
    model = common_keras.mlp(30, [32, 16], 1, output="sigmoid")
    loss = "categorical_crossentropy" if data.is_buggy(variant) else "binary_crossentropy"  # the bug
    model.compile(keras.optimizers.Adam(0.001), loss)
    history = model.fit(x_train, y_train.astype("float32")[:, None], epochs=15, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
