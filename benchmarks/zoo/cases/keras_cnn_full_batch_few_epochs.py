"""model.fit(..., batch_size=len(x_train), epochs=5): five gradient steps in total, and the CNN ends the run
near chance. Fixed: batch_size=32 (about 210 steps in the same 5 epochs).
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_cnn_full_batch_few_epochs",
    framework="keras",
    kind="bug",
    arch="cnn",
    task="multiclass",
    description="Full-batch training for 5 epochs = 5 optimizer steps; fixed: batch size 32.",
    categories=("training",),
    layer=None,
    symptoms=("slow_convergence", "loss_not_decreasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed, images=True, channels_last=True)
    model = common_keras.cnn(10)
    model.compile(keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), "sparse_categorical_crossentropy")
    batch_size = len(x_train) if data.is_buggy(variant) else 32  # the bug: one step per epoch
    history = model.fit(x_train, y_train, epochs=5, batch_size=batch_size, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
