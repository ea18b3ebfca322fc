"""A multi-label model built like a multi-class one: softmax outputs and categorical_crossentropy. Softmax
makes the labels compete (they sum to 1), so a sample with two or three true labels can have at most one
above the 0.5 cut. Fixed: sigmoid outputs with binary_crossentropy (independent labels).
"""

from __future__ import annotations

import keras

from benchmarks.zoo import common_keras, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="keras_mlp_multilabel_softmax_categorical_ce",
    framework="keras",
    kind="bug",
    arch="mlp",
    task="multilabel",
    description="Multi-label head `out` uses softmax + categorical_crossentropy; fixed: sigmoid + binary CE.",
    categories=("loss", "activation"),
    layer="out",
    symptoms=("activation_loss_mismatch", "output_out_of_range"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common_keras.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.multilabel(seed)
    buggy = data.is_buggy(variant)
    # the bug: a multi-class head and loss for independent labels
    head, loss = ("softmax", "categorical_crossentropy") if buggy else ("sigmoid", "binary_crossentropy")
    model = common_keras.mlp(20, [64], y_train.shape[1], output=head)
    model.compile(keras.optimizers.Adam(0.005), loss)
    history = model.fit(x_train, y_train, epochs=12, batch_size=32, verbose=0)
    return common_keras.multilabel_outcome(model, history, x_test, y_test)
