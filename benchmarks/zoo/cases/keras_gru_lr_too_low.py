"""A Keras GRU classifier with Adam(learning_rate=1e-6): the loss creeps down in the fourth decimal and the
model stays at chance for the whole run.
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_gru_lr_too_low",
    framework="keras",
    kind="bug",
    arch="rnn",
    task="multiclass",
    description="Adam learning rate 1e-6 (fixed: 0.01) for a GRU sequence classifier; no progress.",
    categories=("learning_rate",),
    layer=None,
    symptoms=("slow_convergence", "loss_not_decreasing", "unchanged_weights"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.waves(seed)
    model = keras.Sequential(
        [
            keras.Input((x_train.shape[1], 1)),
            keras.layers.GRU(32, name="gru"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    lr = 1e-6 if data.is_buggy(variant) else 0.01  # the bug: the learning rate is 10,000x too small
    model.compile(keras.optimizers.Adam(learning_rate=lr), "sparse_categorical_crossentropy")
    history = model.fit(x_train, y_train, epochs=6, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
