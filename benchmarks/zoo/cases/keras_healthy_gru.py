"""Healthy: a Keras GRU sequence classifier (wave frequency), Adam."""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_healthy_gru",
    framework="keras",
    kind="healthy",
    arch="rnn",
    task="multiclass",
    description="GRU(32) over 24-step noisy sine waves, 3 frequency classes, softmax, Adam lr 0.01.",
)


def run(variant: str, seed: int) -> dict:
    data.require_healthy(variant)
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.waves(seed)
    model = keras.Sequential(
        [
            keras.Input((x_train.shape[1], 1)),
            keras.layers.GRU(32, name="gru"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=6, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
