"""``DeepLocalize(dump_dir=...)`` on the torch backend: the batch of a NaN step and of a loss spike are saved
and load back with ``deeplocalize.load_dump``; training is unchanged by it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
pytest.importorskip("torch")
if keras.backend.backend() != "torch":
    pytest.skip("these tests need the torch Keras backend", allow_module_level=True)

import deeplocalize as dl  # noqa: E402
from deeplocalize.keras import DeepLocalize  # noqa: E402
from deeplocalize.vocabulary import Symptom  # noqa: E402


def _model(loss: str = "binary_crossentropy") -> keras.Model:
    keras.utils.set_random_seed(1)
    out = "sigmoid" if loss == "binary_crossentropy" else None
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="h"),
                              keras.layers.Dense(1, activation=out, name="out")])
    model.compile(keras.optimizers.SGD(0.05), loss)
    return model


def _data(n: int = 640) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8)).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("float32")


def test_the_batch_of_a_nan_step_is_saved_and_loads_back(tmp_path: Path) -> None:
    x, y = _data()
    x[100] = np.nan  # in the 4th batch of 32 (no shuffling)
    callback = DeepLocalize(on_fault="stop", store=False, verbose=0, dump_dir=tmp_path)
    _model("mse").fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0, callbacks=[callback])
    nan = next(f for f in callback.diagnosis.findings if f.symptom == Symptom.NUMERICAL_ERROR)
    saved = dl.load_dump(nan.evidence["batch_dump"])
    assert saved["step"] == 4 and saved["reason"] == "non-finite values"
    np.testing.assert_array_equal(saved["inputs"][0][0], x[96:128])
    np.testing.assert_array_equal(saved["targets"][0].reshape(-1), y[96:128])


def test_a_corrupt_batch_is_a_loss_spike_whose_batch_is_saved_and_fit_is_unchanged(tmp_path: Path) -> None:
    x, y = _data(6400)
    y[160 * 32:161 * 32] = 1.0 - y[160 * 32:161 * 32]  # step 161's batch: every label flipped
    plain = _model()
    plain.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    watched = _model()
    callback = DeepLocalize(on_fault="stop", store=False, verbose=0, dump_dir=tmp_path)
    watched.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0, callbacks=[callback])
    for a, b in zip(plain.get_weights(), watched.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    spike = next(f for f in callback.diagnosis.findings if f.symptom == Symptom.LOSS_SPIKE)
    assert spike.step == 161 and "batch_dump" in spike.evidence
    saved = dl.load_dump(spike.evidence["batch_dump"])
    assert saved["reason"] == "loss spike"
    np.testing.assert_array_equal(saved["targets"][0].reshape(-1), y[160 * 32:161 * 32])
    assert "train_step" not in watched.__dict__  # the wrapper is gone after fit


def test_a_generator_fed_fit_keeps_its_dumps_after_the_first_batch(tmp_path: Path) -> None:
    """With no arrays, the callback reads the data facts from the first batch through ``train_step`` too:
    both wrappers coexist, and the dump of a later NaN step is still written."""
    x, y = _data()
    x[100] = np.nan

    def batches():
        for start in range(0, len(x), 32):
            yield x[start:start + 32], y[start:start + 32]

    callback = DeepLocalize(on_fault="stop", store=False, verbose=0, dump_dir=tmp_path)
    _model("mse").fit(batches(), epochs=1, steps_per_epoch=len(x) // 32, verbose=0, callbacks=[callback])
    nan = next(f for f in callback.diagnosis.findings if f.symptom == Symptom.NUMERICAL_ERROR)
    saved = dl.load_dump(nan.evidence["batch_dump"])
    np.testing.assert_array_equal(saved["inputs"][0][0], x[96:128])
