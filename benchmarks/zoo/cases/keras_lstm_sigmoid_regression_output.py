"""An LSTM regressor whose output layer uses a sigmoid, while the targets span roughly [-3, 3]: the output can
only reach (0, 1), so every negative target is missed. Fixed: a linear output.
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_lstm_sigmoid_regression_output",
    framework="keras",
    kind="bug",
    arch="rnn",
    task="regression",
    description="Regression output `out` is Dense(1, sigmoid) for targets in about [-3, 3]; fixed: linear.",
    categories=("activation",),
    layer="out",
    symptoms=("output_out_of_range", "saturated_activation"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.running_sum(seed)
    head = "sigmoid" if data.is_buggy(variant) else None  # the bug: a bounded output for unbounded targets
    model = keras.Sequential(
        [
            keras.Input((x_train.shape[1], 1)),
            keras.layers.LSTM(32, name="lstm"),
            keras.layers.Dense(1, activation=head, name="out"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "mse")
    history = model.fit(x_train, y_train, epochs=8, batch_size=32, verbose=0)
    return common_keras.regression_outcome(model, history, x_test, y_test)
