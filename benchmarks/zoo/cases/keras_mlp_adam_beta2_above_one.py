"""Adam(beta_2=1.1) (a typo for 0.999): the second-moment estimate v = 1.1 v - 0.1 g^2 turns negative, its
square root is NaN, and the first update fills the weights with NaN. Keras does not validate the betas.
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_mlp_adam_beta2_above_one",
    framework="keras",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="Adam beta_2=1.1 (fixed: 0.999); the second moment turns negative; sqrt gives NaN.",
    categories=("optimizer",),
    layer=None,
    symptoms=("numerical_error",),
    premise="nan",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed)
    model = common_keras.mlp(64, [64], 10, output="softmax")
    beta_2 = 1.1 if data.is_buggy(variant) else 0.999  # the bug: beta_2 must be in [0, 1)
    model.compile(
        keras.optimizers.Adam(learning_rate=0.001, beta_2=beta_2), "sparse_categorical_crossentropy"
    )
    history = model.fit(x_train, y_train, epochs=10, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
