"""Every Dense layer initialized with Constant(0.05): all units of a layer start identical and receive
identical gradients, so they stay identical forever; each layer behaves as a single unit.
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_mlp_constant_init",
    framework="keras",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="All kernels set to the constant 0.05 (symmetric units, `hidden1` on); fixed: glorot.",
    categories=("initialization",),
    layer="hidden1",
    symptoms=("poor_initialization", "loss_not_decreasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed)
    init = keras.initializers.Constant(0.05) if data.is_buggy(variant) else "glorot_uniform"  # the bug
    model = common_keras.mlp(64, [64, 32], 10, activation="tanh", output="softmax", kernel_initializer=init)
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy")
    history = model.fit(x_train, y_train, epochs=10, batch_size=32, verbose=0)
    return common_keras.classification_outcome(model, history, x_test, y_test)
