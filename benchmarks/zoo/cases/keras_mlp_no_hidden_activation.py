"""Hidden Dense layers without an activation (Keras' default is linear): the network is one linear map
followed by a sigmoid, and cannot separate two concentric circles.
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_mlp_no_hidden_activation",
    framework="keras",
    kind="bug",
    arch="mlp",
    task="binary",
    description="Hidden layers `hidden1`, `hidden2` have no activation (linear stack); fixed: relu.",
    categories=("architecture", "activation"),
    layer="hidden1",
    symptoms=("loss_not_decreasing", "accuracy_not_increasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.circles(seed)
    activation = None if data.is_buggy(variant) else "relu"  # the bug: Dense defaults to linear
    model = common_keras.mlp(2, [32, 32], 1, activation=activation, output="sigmoid")
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    history = model.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
