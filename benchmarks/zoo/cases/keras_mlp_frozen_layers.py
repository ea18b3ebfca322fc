"""``for layer in model.layers: layer.trainable = False``, copied from a transfer-learning tutorial into a
model trained from scratch: fit runs, the loss is computed, and no weight ever changes.
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_mlp_frozen_layers",
    framework="keras",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="Every layer frozen (trainable=False) before compile in a model trained from scratch.",
    categories=("training",),
    layer=None,
    symptoms=("unchanged_weights", "loss_not_decreasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.classification(seed)
    model = common_keras.mlp(20, [64, 32], 4, output="softmax")
    if data.is_buggy(variant):
        for layer in model.layers:  # the bug: meant for a pretrained base, not for this model
            layer.trainable = False
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy")
    history = model.fit(x_train, y_train, epochs=10, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
