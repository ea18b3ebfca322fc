"""Labels read with an off-by-one (the CSV header skipped for the images but not for the labels): every image
is paired with the next image's label, so the training signal is noise.
"""

from __future__ import annotations

import keras
import numpy as np

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_cnn_misaligned_labels",
    framework="keras",
    kind="bug",
    arch="cnn",
    task="multiclass",
    description="Training labels shifted by one position relative to the images; fixed: aligned labels.",
    categories=("data",),
    layer=None,
    symptoms=("loss_not_decreasing", "accuracy_not_increasing", "overfitting"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed, images=True, channels_last=True)
    if data.is_buggy(variant):
        y_train = np.roll(y_train, 1)  # the bug: labels off by one row
    model = common_keras.cnn(10)
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy")
    history = model.fit(x_train, y_train, epochs=8, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
