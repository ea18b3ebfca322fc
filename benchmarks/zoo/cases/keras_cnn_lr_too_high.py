"""A Keras CNN compiled with Adam(learning_rate=1.0): the first updates throw the weights far away, the ReLUs
die or the softmax saturates, and accuracy stays at chance.
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_cnn_lr_too_high",
    framework="keras",
    kind="bug",
    arch="cnn",
    task="multiclass",
    description="Adam learning rate 1.0 (fixed: 0.001) for a digits CNN; training stays at chance.",
    categories=("learning_rate",),
    layer=None,
    symptoms=("exploding_gradient", "dead_units", "loss_not_decreasing", "oscillating_loss"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed, images=True, channels_last=True)
    model = common_keras.cnn(10)
    lr = 1.0 if data.is_buggy(variant) else 0.001  # the bug: 1000x Adam's usual step
    model.compile(keras.optimizers.Adam(learning_rate=lr), "sparse_categorical_crossentropy")
    history = model.fit(x_train, y_train, epochs=8, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
