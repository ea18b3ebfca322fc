"""Keras 3 helpers shared by the zoo cases (the runner sets KERAS_BACKEND; this module never does).

Cases build their models with the builders below or inline, with explicit layer names (the layer identity of
docs/architecture.md: Keras ``layer.name``), and call ``model.fit`` themselves, so deeplocalize's callback
injection sees an ordinary ``fit``.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence

import keras
import numpy as np
from keras.src.backend.common import global_state

from benchmarks.zoo import data


def mlp(
    n_in: int,
    hidden: Sequence[int],
    n_out: int,
    activation: str | None = "relu",
    output: str | None = None,
    kernel_initializer: str | keras.initializers.Initializer = "glorot_uniform",
    dropout: float = 0.0,
) -> keras.Sequential:
    """Dense layers named ``hidden1``, ``hidden2``, ... and ``out`` (``dropout1``, ... after each hidden)."""
    layers: list[keras.layers.Layer] = []
    for i, units in enumerate(hidden, start=1):
        layers.append(
            keras.layers.Dense(
                units, activation=activation, kernel_initializer=kernel_initializer, name=f"hidden{i}"
            )
        )
        if dropout:
            layers.append(keras.layers.Dropout(dropout, name=f"dropout{i}"))
    layers.append(
        keras.layers.Dense(n_out, activation=output, kernel_initializer=kernel_initializer, name="out")
    )
    return keras.Sequential([keras.Input((n_in,)), *layers])


def cnn(n_out: int, output: str | None = "softmax", channels: Sequence[int] = (8, 16)) -> keras.Sequential:
    """A small CNN for 8x8x1 images: ``conv1, pool1, conv2, pool2, flatten, out``."""
    layers: list[keras.layers.Layer] = []
    for i, c in enumerate(channels, start=1):
        layers.append(keras.layers.Conv2D(c, 3, padding="same", activation="relu", name=f"conv{i}"))
        layers.append(keras.layers.MaxPooling2D(2, name=f"pool{i}"))
    layers += [keras.layers.Flatten(name="flatten"), keras.layers.Dense(n_out, activation=output, name="out")]
    return keras.Sequential([keras.Input((8, 8, 1)), *layers])


def seed_everything(seed: int) -> None:
    """What ``keras.utils.set_random_seed`` does, except seeding TensorFlow when TF is not loaded yet.

    ``set_random_seed`` imports TensorFlow whenever it is installed (10-20 s on this loaded machine, more than
    the training itself), although the torch backend never uses it. Python, numpy, the backend and Keras'
    global seed generator are seeded exactly as it does.
    """
    if "tensorflow" in sys.modules or keras.backend.backend() != "torch":
        keras.utils.set_random_seed(seed)
        return
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    global_state.set_global_attribute("global_random_seed", seed)  # the attributes set_random_seed resets
    global_state.set_global_attribute("global_seed_generator", None)


def losses_of(history: keras.callbacks.History) -> list[float]:
    """The per-epoch training losses that ``fit`` recorded."""
    return [float(v) for v in history.history.get("loss", [])]


def weights_finite(model: keras.Model) -> bool:
    return all(bool(np.all(np.isfinite(keras.ops.convert_to_numpy(w)))) for w in model.weights)


def predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x, verbose=0, batch_size=256))


def classification_outcome(
    model: keras.Model,
    history: keras.callbacks.History,
    x_test: np.ndarray,
    y_test: np.ndarray,
    threshold: float = 0.5,
) -> dict:
    """Test accuracy; ``y_test`` holds class indices (one-hot targets are passed through argmax)."""
    labels = y_test.argmax(axis=1) if y_test.ndim == 2 and y_test.shape[1] > 1 else y_test
    score = data.accuracy(predict(model, x_test), labels, threshold)
    return data.outcome(
        losses_of(history), score, "accuracy", data.chance(labels, "multiclass"), weights_finite(model)
    )


def multilabel_outcome(
    model: keras.Model,
    history: keras.callbacks.History,
    x_test: np.ndarray,
    y_test: np.ndarray,
    threshold: float = 0.5,
) -> dict:
    score = data.micro_f1(predict(model, x_test), y_test, threshold)
    return data.outcome(
        losses_of(history), score, "micro_f1", data.chance(y_test, "multilabel"), weights_finite(model)
    )


def regression_outcome(
    model: keras.Model, history: keras.callbacks.History, x_test: np.ndarray, y_test: np.ndarray
) -> dict:
    score = data.r2(predict(model, x_test), y_test)
    return data.outcome(
        losses_of(history), score, "r2", data.chance(y_test, "regression"), weights_finite(model)
    )
