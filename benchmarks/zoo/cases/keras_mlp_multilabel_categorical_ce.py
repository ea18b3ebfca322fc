"""A multi-label model (sigmoid outputs) compiled with categorical_crossentropy: Keras renormalizes the
outputs to sum to 1, so the loss only sees their ratios; the sigmoid levels are never trained against the
0.5 cut and the predicted label sets are wrong. Fixed: binary_crossentropy.
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_mlp_multilabel_categorical_ce",
    framework="keras",
    kind="bug",
    arch="mlp",
    task="multilabel",
    description="categorical_crossentropy on multi-hot targets with sigmoid outputs; fixed: binary CE.",
    categories=("loss",),
    layer=None,
    symptoms=("activation_loss_mismatch", "accuracy_not_increasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.multilabel(seed)
    model = common_keras.mlp(20, [64], y_train.shape[1], output="sigmoid")
    loss = "categorical_crossentropy" if data.is_buggy(variant) else "binary_crossentropy"  # the bug
    model.compile(keras.optimizers.Adam(0.005), loss)
    history = model.fit(x_train, y_train, epochs=12, batch_size=32, verbose=0)
    return common_keras.multilabel_outcome(model, history, x_test, y_test)
