"""Small Keras training scenarios shared by the torch-backend tests and the TensorFlow subprocess.

Each scenario builds a compiled model and its data (scikit-learn bundled sets or seeded numpy, no
downloads) and names the expected diagnosis: (category, layer name or None). Running this file as a script
(``python _keras_scenarios.py NAME...``, with KERAS_BACKEND set) runs each scenario or check under the
callback and prints one JSON line for each.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Scenario:
    build: Callable[[], tuple[Any, np.ndarray, np.ndarray]]
    expect: tuple[str, str | None] | None  # (category, layer name) or None for healthy
    epochs: int = 3
    batch_size: int = 32


def _binary() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    return x.astype("float32"), y.astype("float32")


def _digits(images: bool = False) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    if images:
        x = x.reshape(-1, 8, 8, 1)
    return x, y.astype("int64")


def _one_hot(y: np.ndarray, k: int = 10) -> np.ndarray:
    return np.eye(k, dtype="float32")[y]


def _mlp(inputs: int, out_units: int, out_act: str, loss: str, lr: float = 0.01, opt: str = "adam") -> Any:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((inputs,)),
        keras.layers.Dense(32, activation="relu", name="hidden"),
        keras.layers.Dense(out_units, activation=out_act, name="out"),
    ])
    optimizer = keras.optimizers.Adam(lr) if opt == "adam" else keras.optimizers.SGD(lr)
    model.compile(optimizer, loss, metrics=["accuracy"])
    return model


def softmax_one_unit_bce() -> tuple[Any, np.ndarray, np.ndarray]:
    x, y = _binary()
    return _mlp(30, 1, "softmax", "binary_crossentropy"), x, y


def sigmoid_cce() -> tuple[Any, np.ndarray, np.ndarray]:
    x, y = _digits()
    return _mlp(64, 10, "sigmoid", "categorical_crossentropy"), x, _one_hot(y)


def relu_bce() -> tuple[Any, np.ndarray, np.ndarray]:
    x, y = _binary()
    return _mlp(30, 1, "relu", "binary_crossentropy"), x, y


def mse_one_hot() -> tuple[Any, np.ndarray, np.ndarray]:
    x, y = _digits()
    return _mlp(64, 10, "softmax", "mse"), x, _one_hot(y)


def unscaled_inputs() -> tuple[Any, np.ndarray, np.ndarray]:
    x, y = _digits()
    return _mlp(64, 10, "softmax", "sparse_categorical_crossentropy"), x * 16.0 * 250.0 + 1000.0, y


def lr_nan() -> tuple[Any, np.ndarray, np.ndarray]:
    import keras
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype("float32")
    y = ((y - y.mean()) / y.std()).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((10,)),
        keras.layers.Dense(32, activation="relu", name="hidden"),
        keras.layers.Dense(1, name="out"),
    ])
    model.compile(keras.optimizers.SGD(1.0), "mse")  # regression, lr=1.0: the loss turns NaN in epoch 1
    return model, x, y


def healthy_mlp() -> tuple[Any, np.ndarray, np.ndarray]:
    x, y = _digits()
    return _mlp(64, 10, "softmax", "sparse_categorical_crossentropy", lr=0.003), x, y


def healthy_cnn() -> tuple[Any, np.ndarray, np.ndarray]:
    import keras

    x, y = _digits(images=True)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(8, 3, activation="relu", padding="same", name="conv"),
        keras.layers.MaxPooling2D(2, name="pool"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(32, activation="relu", name="hidden"),
        keras.layers.Dense(10, activation="softmax", name="out"),
    ])
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, x, y


SCENARIOS: dict[str, Scenario] = {
    "softmax_one_unit_bce": Scenario(softmax_one_unit_bce, ("activation", "out")),
    "sigmoid_cce": Scenario(sigmoid_cce, ("activation", "out")),
    "relu_bce": Scenario(relu_bce, ("activation", "out")),
    "mse_one_hot": Scenario(mse_one_hot, ("loss", None)),
    "unscaled_inputs": Scenario(unscaled_inputs, ("data", None)),
    "lr_nan": Scenario(lr_nan, ("learning_rate", None)),
    "healthy_mlp": Scenario(healthy_mlp, None, epochs=4),
    "healthy_cnn": Scenario(healthy_cnn, None, epochs=4),
}


def run(name: str, on_fault: str = "continue") -> dict[str, Any]:
    """Train one scenario under the callback; its diagnosis as a dict, plus the last loss/accuracy seen."""
    import deeplocalize as dl

    scenario = SCENARIOS[name]
    model, x, y = scenario.build()
    callback = dl.keras.DeepLocalize(on_fault=on_fault, store=False, verbose=0)
    history = model.fit(x, y, batch_size=scenario.batch_size, epochs=scenario.epochs, verbose=0,
                        callbacks=[callback])
    assert callback.diagnosis is not None
    out = callback.diagnosis.to_dict()
    out["history"] = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    return out


def matches(diagnosis: dict[str, Any], expect: tuple[str, str | None], top: int = 3) -> bool:
    """True when one of the first ``top`` root causes has the expected category (and layer, when named)."""
    category, layer = expect
    for cause in diagnosis["root_causes"][:top]:
        if cause["category"] != category:
            continue
        if layer is None or (cause["layer"] or {}).get("name") == layer:
            return True
    return False


def _small(dropout: bool) -> tuple[Any, np.ndarray, np.ndarray]:
    import keras

    x, y = _binary()
    keras.utils.set_random_seed(3)
    layers = [keras.Input((30,)), keras.layers.Dense(16, activation="relu", name="h")]
    if dropout:
        layers.append(keras.layers.Dropout(0.3, name="drop"))
    layers.append(keras.layers.Dense(1, activation="sigmoid", name="out"))
    model = keras.Sequential(layers)
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    return model, x, y


def check_unaltered() -> dict[str, Any]:
    """Same seed, with and without the callback: bit-identical weights (dropout and validation included)."""
    import deeplocalize as dl

    weights = []
    for watched in (False, True):
        model, x, y = _small(dropout=True)
        callbacks = [dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=0)] if watched else []
        model.fit(x, y, batch_size=32, epochs=2, verbose=0, validation_split=0.2, callbacks=callbacks)
        weights.append(model.get_weights())
    same = all(np.array_equal(a, b) for a, b in zip(weights[0], weights[1], strict=True))
    return {"identical": bool(same and len(weights[0]) == len(weights[1]))}


def check_trace() -> dict[str, Any]:
    """What one short run records: steps, epochs, per-batch loss vs Keras' epoch mean, channels per layer."""
    import deeplocalize as dl

    model, x, y = _small(dropout=False)
    callback = dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=0,
                                     config=dl.Config(stats_every=1))
    history = model.fit(x, y, batch_size=64, epochs=2, verbose=0, validation_split=0.25, callbacks=[callback])
    trace = callback.monitor.trace
    n_train = int(np.floor(len(x) * 0.75))  # Keras' validation_split keeps the first floor(75%) rows
    per_epoch = int(np.ceil(n_train / 64))
    sizes = [64] * (per_epoch - 1) + [n_train - 64 * (per_epoch - 1)]
    return {
        "steps": [int(s) for s in trace.steps()],
        "per_epoch": per_epoch,
        "epoch0_mean_loss": float(np.average(trace.loss()[:per_epoch], weights=sizes)),
        "keras_epoch0_loss": float(history.history["loss"][0]),
        "val_loss": float(trace.metric("val_loss")[per_epoch - 1]),
        "keras_val_loss": float(history.history["val_loss"][0]),
        "channels": sorted(f"{i}:{c}" for i, c in trace.last_record.stats),
        "tool_errors": callback.diagnosis.tool_errors,
    }


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {"unaltered": check_unaltered, "trace": check_trace}


if __name__ == "__main__":
    for item in sys.argv[1:]:
        try:
            result = CHECKS[item]() if item in CHECKS else run(item)
        except Exception as exc:  # reported to the parent test
            result = {"error": f"{type(exc).__name__}: {exc}"}
        result["scenario"] = item
        print("SCENARIO " + json.dumps(result), flush=True)
