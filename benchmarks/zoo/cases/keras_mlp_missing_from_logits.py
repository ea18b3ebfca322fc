"""A linear output layer (logits) with SparseCategoricalCrossentropy() left at from_logits=False: the loss
treats logits as probabilities, clips the negative ones, and the gradient mostly vanishes.
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_mlp_missing_from_logits",
    framework="keras",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="Linear output `out` with SparseCategoricalCrossentropy(from_logits=False); fixed: True.",
    categories=("loss", "activation"),
    layer="out",
    symptoms=("activation_loss_mismatch", "output_out_of_range", "loss_not_decreasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed)
    model = common_keras.mlp(64, [64], 10, output=None)  # logits
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=not data.is_buggy(variant))  # the bug
    model.compile(keras.optimizers.Adam(0.001), loss)
    history = model.fit(x_train, y_train, epochs=10, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
