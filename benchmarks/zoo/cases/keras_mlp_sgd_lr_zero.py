"""The linear scaling rule ``lr = base_lr * batch_size / 256`` typed with floor division ``//``:
0.8 * 16 // 256 is 0.0, so SGD runs and every update is exactly zero.
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_mlp_sgd_lr_zero",
    framework="keras",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="SGD learning rate 0.8 * 16 // 256 = 0.0; the weights never change. Fixed: / 256.",
    categories=("optimizer", "learning_rate"),
    layer=None,
    symptoms=("unchanged_weights", "loss_not_decreasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    base_lr, batch_size = 0.8, 16
    x_train, x_test, y_train, y_test = data.wine(seed)
    model = common_keras.mlp(13, [32], 3, output="softmax")
    # the bug: floor division; the fix: true division (0.05)
    lr = base_lr * batch_size // 256 if data.is_buggy(variant) else base_lr * batch_size / 256
    model.compile(keras.optimizers.SGD(learning_rate=lr, momentum=0.9), "sparse_categorical_crossentropy")
    history = model.fit(x_train, y_train, epochs=30, batch_size=batch_size, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
