"""Healthy: a Keras multi-label MLP with sigmoid outputs and binary cross-entropy, Adam."""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_healthy_multilabel",
    framework="keras",
    kind="healthy",
    arch="mlp",
    task="multilabel",
    description="Multi-label MLP 20-64-6, sigmoid outputs, binary cross-entropy, Adam.",
)


def run(variant: str, seed: int) -> dict:
    data.require_healthy(variant)
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.multilabel(seed)
    model = common_keras.mlp(20, [64], y_train.shape[1], output="sigmoid")
    model.compile(keras.optimizers.Adam(0.005), "binary_crossentropy")
    history = model.fit(x_train, y_train, epochs=12, batch_size=32, verbose=0)
    return common_keras.multilabel_outcome(model, history, x_test, y_test)
