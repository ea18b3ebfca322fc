"""Healthy: a Keras MLP with dropout and a softmax head on the wine data, Adam."""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_healthy_mlp_softmax",
    framework="keras",
    kind="healthy",
    arch="mlp",
    task="multiclass",
    description="Wine MLP 13-32-16-3 with dropout 0.2, softmax, sparse categorical CE, Adam.",
)


def run(variant: str, seed: int) -> dict:
    data.require_healthy(variant)
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.wine(seed)
    model = common_keras.mlp(13, [32, 16], 3, output="softmax", dropout=0.2)
    model.compile(keras.optimizers.Adam(0.005), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=30, batch_size=16, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
