"""A binary classifier ending in Dense(1, activation="softmax") with binary cross-entropy: softmax over a
single unit is always exactly 1.0, so every sample is predicted positive and nothing can be learned.
The classic Stack Overflow "accuracy stuck at 0.6x" question.
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_mlp_softmax_one_unit",
    framework="keras",
    kind="bug",
    arch="mlp",
    task="binary",
    description="Output layer `out` is Dense(1, softmax) with binary_crossentropy; fixed: sigmoid.",
    categories=("activation", "loss"),
    layer="out",
    symptoms=("activation_loss_mismatch", "constant_output", "loss_not_decreasing", "vanishing_gradient"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.breast_cancer(seed)
    head = "softmax" if data.is_buggy(variant) else "sigmoid"  # the bug: softmax of one unit is always 1
    model = common_keras.mlp(30, [32, 16], 1, output=head)
    model.compile(keras.optimizers.Adam(0.001), "binary_crossentropy")
    history = model.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
