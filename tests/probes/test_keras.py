"""The Keras callback and ``instrument`` on the torch backend (the TensorFlow backend: test_keras_tf.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny models: threads only contend on this shared 2-core machine
if keras.backend.backend() != "torch":  # keras was imported earlier in this process with another backend
    pytest.skip("these tests need the torch Keras backend", allow_module_level=True)

import deeplocalize as dl  # noqa: E402
from deeplocalize import summary  # noqa: E402
from deeplocalize.monitor import Monitor  # noqa: E402
from deeplocalize.probes.keras import instrument  # noqa: E402
from deeplocalize.vocabulary import Channel  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import _keras_scenarios as sc  # noqa: E402


def _data(n: int = 256) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("float32")
    return x, y


def _model(out_act: str = "sigmoid", dropout: bool = False, loss: str = "binary_crossentropy") -> keras.Model:
    keras.utils.set_random_seed(1)
    layers = [keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="h")]
    if dropout:
        layers.append(keras.layers.Dropout(0.3, name="drop"))
    layers.append(keras.layers.Dense(1, activation=out_act, name="out"))
    model = keras.Sequential(layers)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), loss, metrics=["accuracy"])
    return model


# ---------------------------------------------------------------------------------------- model facts
def test_model_facts_from_keras() -> None:
    x, y = _data()
    model = _model()
    cb = dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=0)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    info = cb.monitor.model
    facts = [(layer.index, layer.name, layer.type, layer.activation, layer.units) for layer in info.layers]
    assert facts == [(0, "h", "Dense", "relu", 16), (1, "out", "Dense", "sigmoid", 1)]
    assert info.layers[0].params == 8 * 16 + 16 and info.layers[0].kernel_initializer == "glorot_uniform"
    assert info.layers[0].bias_initializer == "zeros" and info.layers[0].unit_axis == -1
    loss = (info.loss.name, info.loss.expects, info.loss.from_logits)
    assert loss == ("binary_crossentropy", "probabilities", False)
    assert info.optimizer.name == "sgd" and info.optimizer.lr == pytest.approx(0.05)
    assert info.optimizer.momentum == pytest.approx(0.9)
    assert info.data.x_shape == (256, 8) and info.data.y_is_integer and info.data.n_classes == 2
    assert info.data.x_min == pytest.approx(float(x.min())) and info.task == "binary"


def test_dropout_rates_and_frozen_kernels_are_model_facts() -> None:
    """The rate of each dropout layer, and the weights of a frozen layer (never recorded per step): the
    structural rules read them (``deeplocalize.structure``)."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((12,), dtype="int32"),
                              keras.layers.Embedding(300, 8, name="emb", trainable=False),
                              keras.layers.GlobalAveragePooling1D(), keras.layers.Dropout(0.9, name="drop"),
                              keras.layers.Dense(1, activation="sigmoid", name="out")])
    model.compile("adam", "binary_crossentropy")
    x = np.random.default_rng(0).integers(0, 300, size=(64, 12))
    cb = dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=0)
    model.fit(x, (x[:, 0] % 2).astype("float32"), batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    layers = {layer.name: layer for layer in cb.monitor.model.layers}
    assert layers["drop"].extra["dropout_rate"] == pytest.approx(0.9)
    kernel = layers["emb"].extra["frozen_kernel"]
    assert kernel["kernel_numel"] == 2400 and -0.05 <= kernel["kernel_min"] < kernel["kernel_max"] <= 0.05
    assert "frozen_kernel" not in layers["out"].extra  # trained layers are recorded every statistics step


def test_one_hot_targets_per_time_step_are_one_hot_over_their_last_axis() -> None:
    """(N, T, C) one-hot targets (a sequence decoder under categorical cross-entropy): C classes and their
    prior, not two "classes" 0 and 1 (whose entropy made the chance level of keras-io's addition RNN 0.29
    instead of about 2.4 nats, and stopped that healthy run)."""
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5, 3)).astype("float32")
    labels = rng.integers(0, 12, size=(64, 4))
    y = np.eye(12, dtype="float32")[labels]
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(8), keras.layers.RepeatVector(4),
                              keras.layers.LSTM(8, return_sequences=True),
                              keras.layers.Dense(12, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    cb = dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=0)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    data = cb.monitor.model.data
    assert data.y_is_one_hot and data.n_classes == 12
    counts = np.bincount(labels.reshape(-1), minlength=12)
    p = counts[counts > 0] / counts.sum()
    plug_in = float(-(p * np.log(p)).sum())  # the prior adds the Miller-Madow correction, (K - 1) / 2N
    assert data.y_prior_entropy == pytest.approx(plug_in + 11 / (2 * 256), rel=1e-6)
    assert data.y_bce_floor is None  # one-hot rows: hard targets


def test_soft_targets_in_0_1_give_the_floor_of_binary_cross_entropy() -> None:
    """Ratings scaled to [0, 1] (keras-io's collaborative filtering): binary cross-entropy cannot go below
    their mean binary entropy, which the data facts record (the curve rules measure progress above it)."""
    from deeplocalize.probes.keras_facts import data_info

    y = np.random.default_rng(0).uniform(0.05, 0.95, size=(200, 1)).astype("float32")
    p = y.astype("float64")
    floor = float((-(p * np.log(p) + (1 - p) * np.log1p(-p))).mean())
    assert data_info(np.zeros((200, 3), "float32"), y).y_bce_floor == pytest.approx(floor, rel=1e-5)


def test_data_facts_tell_continuous_features_squeezed_by_one_global_scale() -> None:
    from deeplocalize.probes.keras_facts import data_info

    rng = np.random.default_rng(0)
    raw = np.column_stack([rng.uniform(190, 710, 300), rng.normal(6.3, 0.7, 300)]).astype("float32")
    squeezed = data_info((raw - raw.mean()) / raw.std(), np.zeros((300, 1), "float32"))
    assert squeezed.x_continuous_scale_ratio > 100
    per_column = data_info((raw - raw.mean(0)) / raw.std(0), np.zeros((300, 1), "float32"))
    assert per_column.x_continuous_scale_ratio < 1.01


def test_a_later_fit_input_holding_the_targets_is_named_and_a_shifted_one_is_not() -> None:
    """keras-io's translation transformer feeds ``{"encoder_inputs", "decoder_inputs"}``: decoder inputs
    equal to the targets (not shifted right) let the decoder copy them."""
    from deeplocalize.probes.keras_facts import data_info

    rng = np.random.default_rng(0)
    source = rng.integers(1, 60, (300, 12))
    target = rng.integers(1, 60, (300, 12))
    target[:, 9:] = 0  # padding
    shifted = np.concatenate([np.full((300, 1), 2), target[:, :-1]], 1)  # the start token first
    leaky = data_info({"encoder_inputs": source, "decoder_inputs": target}, target)
    assert leaky.y_in_input == "decoder_inputs"
    assert data_info({"encoder_inputs": source, "decoder_inputs": target}, target[..., None]).y_in_input
    assert data_info([source, target], target).y_in_input is None  # an unnamed input may be shifted inside
    assert data_info({"encoder_inputs": source, "decoder_inputs": shifted}, target).y_in_input is None
    assert data_info(source, target).y_in_input is None  # one input: a copy task learns these targets


def test_data_facts_from_the_first_batch_when_fit_gets_a_generator() -> None:
    """``fit`` on a generator: the labels are read from the first batch ``train_step`` receives, so the
    pre-flight checks see them (class indices 0..2 fed to a one-unit binary head)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 8)).astype("float32")
    y = rng.integers(0, 3, 96).astype("float32")

    def batches():
        while True:
            for i in range(0, 96, 32):
                yield x[i:i + 32], y[i:i + 32]

    model = _model(out_act="linear", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    cb = dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=0)
    model.fit(batches(), steps_per_epoch=6, epochs=1, verbose=0, callbacks=[cb])
    data = cb.monitor.model.data
    assert data is not None and data.x_shape == (32, 8) and (data.y_min, data.y_max) == (0.0, 2.0)
    assert cb.diagnosis.findings[0].symptom == "output_out_of_range"
    assert "train_step" not in model.__dict__  # the reader stepped aside after one batch


def test_loss_facts_logits_and_softmax_axis() -> None:
    from deeplocalize.probes.keras_facts import layer_info, loss_info

    logits = loss_info(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    facts = (logits.name, logits.expects, logits.from_logits)
    assert facts == ("sparse_categorical_crossentropy", "logits", True)
    assert loss_info("mse").name == "mse" and loss_info(keras.losses.mean_absolute_error).name == "mae"
    assert loss_info(lambda t, p: t - p).name == "custom"
    dense = keras.layers.Dense(5, activation="softmax", kernel_initializer="he_normal")
    dense.build((None, 3))
    info = layer_info(3, dense)
    assert (info.activation, info.softmax_axis_size, info.kernel_initializer) == ("softmax", 5, "he_normal")
    assert layer_info(0, keras.layers.ReLU()).activation == "relu"


# ---------------------------------------------------------------------------------------- the trace
def test_records_every_step_with_batch_loss_and_layer_stats() -> None:
    x, y = _data()
    model = _model()
    cb = dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=0, config=dl.Config(stats_every=1))
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[cb], validation_split=0.25)
    trace = cb.monitor.trace
    assert trace.steps_observed == 12 and list(trace.steps()) == list(range(1, 13))
    assert list(trace.epochs()) == [0] * 6 + [1] * 6
    # the per-batch losses average back to Keras' epoch loss (Keras logs running means)
    assert np.mean(trace.loss()[:6]) == pytest.approx(history.history["loss"][0], rel=1e-4)
    assert np.mean(trace.metric("accuracy")[6:]) == pytest.approx(history.history["accuracy"][1], rel=1e-4)
    assert trace.metric("val_loss")[5] == pytest.approx(history.history["val_loss"][0])
    assert trace.metric("val_accuracy")[11] == pytest.approx(history.history["val_accuracy"][1])
    assert np.all(trace.lr() == pytest.approx(0.05))
    rec = trace.last_record
    channels = (Channel.OUTPUT, Channel.OUTPUT_GRAD, Channel.WEIGHTS, Channel.WEIGHT_GRAD, Channel.UPDATE)
    for channel in channels:
        for layer in (0, 1):
            assert (layer, channel) in rec.stats, (layer, channel)
    assert rec.stats[(0, Channel.WEIGHTS)][0] == 8 * 16 + 16
    out = rec.stats[(1, Channel.OUTPUT)]
    assert 0.0 <= out[2] <= out[3] <= 1.0  # sigmoid output range
    assert not np.isnan(rec.stats[(0, Channel.OUTPUT)][8])  # dead_frac measured on the ReLU layer
    assert not np.isnan(out[9])  # sat_frac measured on the sigmoid layer


def test_update_is_the_weight_change_of_the_step() -> None:
    x, y = _data(64)
    model = _model()
    before = [w.copy() for w in model.get_weights()]
    cb = dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=0)
    model.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False, callbacks=[cb])
    after = model.get_weights()[:2]
    delta = np.concatenate([(a - b).ravel() for a, b in zip(after, before[:2], strict=True)])
    update = cb.monitor.trace.last_record.stats[(0, Channel.UPDATE)]
    assert update[7] == pytest.approx(np.linalg.norm(delta), rel=1e-4)


def test_stats_every_cadence() -> None:
    x, y = _data()
    cb = dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=0,
                               config=dl.Config(stats_every=4))
    _model().fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    records = list(cb.monitor.trace.records())
    full = [r.step for r in records if not np.isnan(r.stats[(0, Channel.OUTPUT)][summary.MEAN])]
    assert full == [1, 5]
    assert all(r.stats[(0, Channel.OUTPUT)][summary.NONFINITE] == 0 for r in records)  # counted every step
    assert not np.isnan(cb.monitor.trace.loss()).any()  # the loss is read every step regardless


# ---------------------------------------------------------------------------------------- policy and output
def test_nan_is_seen_on_its_step() -> None:
    x, y = _data()
    x[100:] = np.nan  # batches from step 4 on carry NaN
    cb = dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=0)
    model = _model(loss="mse")  # torch's BCE refuses NaN probabilities (training itself would fail)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False, callbacks=[cb])
    loss = cb.monitor.trace.loss()
    assert np.isfinite(loss[:3]).all() and not np.isfinite(loss[3])
    steps = [f.step for f in cb.diagnosis.findings if f.symptom == "numerical_error"]
    assert steps and min(steps) == 4, cb.diagnosis.findings


def test_on_fault_stop_stops_training() -> None:
    x, y = _data()
    x[64:] = np.nan  # batches from step 3 on carry NaN: a fault at step 3
    cb = dl.keras.DeepLocalize(on_fault="stop", store=False, verbose=0)
    model = _model(loss="mse")
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[cb])
    d = cb.diagnosis
    assert d.faulty and d.stopped_early and d.steps_observed < 8 and len(history.history["loss"]) == 1


def test_on_fault_raise() -> None:
    x, y = _data()
    x[:] = np.nan
    cb = dl.keras.DeepLocalize(on_fault="raise", store=False, verbose=0)
    with pytest.raises(dl.FaultDetected) as info:
        _model(loss="mse").fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[cb])
    assert info.value.diagnosis is cb.diagnosis and cb.diagnosis.faulty


def test_on_fault_warn_and_continue() -> None:
    x, y = _data()
    x[:] = np.nan
    cb = dl.keras.DeepLocalize(on_fault="warn", store=False, verbose=0)
    with pytest.warns(RuntimeWarning, match="deeplocalize"):
        _model(loss="mse").fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    assert cb.diagnosis.steps_observed == 8 and not cb.diagnosis.stopped_early
    quiet = dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _model(loss="mse").fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[quiet])
    assert quiet.diagnosis.faulty and quiet.diagnosis.steps_observed == 8


def test_verbose_prints_one_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = _data()
    cb = dl.keras.DeepLocalize(on_fault="continue", store=False)  # "auto": fit(verbose=0) -> silent
    _model().fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    assert "deeplocalize" not in capsys.readouterr().out
    cb = dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=1)
    _model().fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[cb])
    lines = [line for line in capsys.readouterr().out.splitlines() if "deeplocalize" in line]
    assert len(lines) == 1 and str(cb.diagnosis.verdict) in lines[0]


# ---------------------------------------------------------------------------------------- guarantees
def _train(callback: bool) -> list[np.ndarray]:
    x, y = _data()
    model = _model(dropout=True)
    cbs = [dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=0)] if callback else []
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=cbs, validation_split=0.2)
    return model.get_weights()


def test_training_is_unaltered_bit_for_bit() -> None:
    plain, watched = _train(False), _train(True)
    assert len(plain) == len(watched)
    for a, b in zip(plain, watched, strict=True):
        assert np.array_equal(a, b)


def test_tool_errors_never_break_training(monkeypatch: pytest.MonkeyPatch) -> None:
    from deeplocalize.probes import keras_callback

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(keras_callback, "current_lr", broken)
    monkeypatch.setattr(keras_callback, "model_info", broken)
    x, y = _data()
    cb = dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=0)
    history = _model().fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[cb])
    assert len(history.history["loss"]) == 2
    assert cb.diagnosis is not None and any("boom" in e for e in cb.diagnosis.tool_errors)


# ---------------------------------------------------------------------------------------- instrument
def test_instrument_injects_into_fit_and_honours_max_steps() -> None:
    x, y = _data()
    monitor = Monitor("keras", on_fault="continue")
    model = _model()
    with instrument(monitor, max_steps=5):
        model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    assert monitor.trace.steps_observed == 5
    assert monitor.model.data is not None and monitor.model.data.x_shape == (256, 8)
    assert "fit" not in vars(keras.Model)  # removed on exit
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert monitor.trace.steps_observed == 5
    assert monitor.finish().steps_observed == 5


def test_instrument_continues_steps_across_fit_calls() -> None:
    x, y = _data()
    monitor = Monitor("keras", on_fault="continue")
    with instrument(monitor):
        model = _model()
        model.fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[keras.callbacks.History()])
        model.fit(x, y, 64, 1, 0)  # positional batch_size, epochs, verbose
    assert list(monitor.trace.steps()) == list(range(1, 9))


def test_instrument_imports_nothing_for_scripts_without_keras() -> None:
    code = textwrap.dedent("""
        import sys
        from deeplocalize.monitor import Monitor
        from deeplocalize.probes.keras import instrument
        with instrument(Monitor("torch")):
            import json
        heavy = [m for m in sys.modules if m.split(".")[0] in ("keras", "tensorflow", "torch", "jax")]
        assert not heavy, heavy
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_instrument_hooks_keras_imported_later() -> None:
    code = textwrap.dedent("""
        import os, sys
        os.environ["KERAS_BACKEND"] = "torch"
        import numpy as np
        import torch
        torch.set_num_threads(1)
        from deeplocalize.monitor import Monitor
        from deeplocalize.probes.keras import instrument
        monitor = Monitor("keras", on_fault="continue")
        with instrument(monitor, max_steps=3):
            assert "keras" not in sys.modules
            import keras
            m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
            m.compile("sgd", "mse")
            m.fit(np.ones((64, 4), "float32"), np.ones((64, 1), "float32"), batch_size=8, verbose=0)
        print("steps", monitor.trace.steps_observed)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "steps 3" in out.stdout, out.stderr[-2000:]


# ---------------------------------------------------------------------------------------- common Keras bugs
@pytest.mark.parametrize("name", [n for n, s in sc.SCENARIOS.items() if s.expect is not None])
def test_common_keras_bug_is_localized(name: str) -> None:
    result = sc.run(name)
    assert result["verdict"] == "faulty", result["findings"]
    assert sc.matches(result, sc.SCENARIOS[name].expect), result["root_causes"]


@pytest.mark.parametrize("name", ["healthy_mlp", "healthy_cnn"])
def test_healthy_keras_model_is_healthy(name: str) -> None:
    result = sc.run(name)
    assert result["verdict"] == "healthy", (result["findings"], result["history"])
    assert result["history"]["accuracy"][-1] > 0.85


def test_softmax_on_one_unit_premise() -> None:
    """The classic bug: output always 1.0, loss = 15.94 x (share of negatives), accuracy fixed."""
    model, x, y = sc.softmax_one_unit_bce()
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert history.history["loss"][0] == pytest.approx(float(1 - y.mean()) * 15.9424, rel=0.02)
    assert history.history["accuracy"][0] == pytest.approx(float(y.mean()), abs=0.01)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_healthy_mixed_precision_training_is_healthy(policy: str) -> None:
    """Keras mixed precision (fp16 with its LossScaleOptimizer, whose first steps may overflow and be
    skipped; bf16 without one): a healthy run gives no fault."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(1024, 20)).astype("float32")
        y = (x @ rng.normal(size=(20, 3))).argmax(1)
        model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(3), keras.layers.Activation("softmax", dtype="float32")])
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        cb = dl.keras.DeepLocalize(on_fault="stop", store=False)
        model.fit(x, y, epochs=6, batch_size=32, callbacks=[cb], verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert cb.diagnosis is not None and cb.diagnosis.verdict == dl.Verdict.HEALTHY
    assert cb.diagnosis.steps_observed == 6 * 32 and not cb.diagnosis.stopped_early


def test_keras_multi_head_attention_entropy_is_measured_under_its_layer_on_statistics_steps() -> None:
    import inspect

    if "dot_product_attention" not in inspect.getsource(keras.layers.MultiHeadAttention._compute_attention):
        pytest.skip("this Keras's MultiHeadAttention computes its softmax itself (Keras 3.5): not measured")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 16, (64, 12))
    inp = keras.Input((12,), dtype="int32")
    h = keras.layers.Embedding(16, 16)(inp)
    h = h + keras.layers.MultiHeadAttention(4, 4, name="mha")(h, h)
    model = keras.Model(inp, keras.layers.Dense(16)(h))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = dl.keras.DeepLocalize(store=False, config=dl.Config(stats_every=2))
    model.fit(x, (x + 1) % 16, epochs=2, batch_size=16, callbacks=[cb], verbose=0)
    index = [layer.name for layer in model.layers].index("mha")
    entropy = cb.monitor.trace.matrix(index, Channel.ATTENTION)
    measured = entropy[np.isfinite(entropy[:, summary.MEAN])]
    assert len(measured) == 4 and (measured[:, summary.NUMEL] == 4).all()  # 4 of 8 steps, 4 heads each
    assert ((measured[:, summary.MEAN] > 0.5) & (measured[:, summary.MEAN] <= 1.0)).all()  # near uniform


# ---------------------------------------------------------------------------------------- own loops
def _own_loop(model: keras.Model, optimizer: str, steps: int = 40, nan_at: int | None = None) -> None:
    """Keras's "training loop from scratch in PyTorch": the model called on torch tensors, the loss
    backpropagated by torch, the update by a torch or a Keras optimizer."""
    x, y = _data()
    torch_opt = torch.optim.SGD(model.parameters(), lr=0.05) if optimizer == "torch" else None
    keras_opt = keras.optimizers.SGD(0.05) if optimizer == "keras" else None
    for step in range(1, steps + 1):
        j = (step * 32) % 256
        xb, yb = torch.from_numpy(x[j:j + 32].copy()), torch.from_numpy(y[j:j + 32])
        if step == nan_at:
            xb[0, 0] = float("nan")
        logits = model(xb, training=True)[:, 0]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, yb)
        model.zero_grad()
        loss.backward()
        if torch_opt is not None:
            torch_opt.step()
        else:
            weights = model.trainable_weights
            with torch.no_grad():
                keras_opt.apply([v.value.grad for v in weights], weights)


@pytest.mark.parametrize("optimizer", ["torch", "keras"])
def test_a_keras_model_trained_by_a_loop_of_its_own_is_watched_under_run(optimizer: str) -> None:
    """Under ``deeplocalize run`` (both instruments), a Keras model trained without ``fit`` is watched by the
    torch probe with its Keras layers (names, positions, fused activations): a sigmoid output fed to a
    logits loss is found at its layer; the steps of a Keras optimizer end at each backward."""
    from deeplocalize.cli_exec import instrumentation

    monitor = Monitor("torch", on_fault="continue")
    with instrumentation(monitor):
        _own_loop(_model(out_act="sigmoid"), optimizer)
    diagnosis = monitor.finish(completed=True)
    assert diagnosis.steps_observed == 40 and diagnosis.tool_errors == []
    assert [(layer.index, layer.name, layer.activation) for layer in diagnosis.layers] == [
        (0, "h", "relu"), (1, "out", "sigmoid")]
    mismatch = [f for f in diagnosis.faults if f.symptom == "activation_loss_mismatch"]
    assert [f.layer.name for f in mismatch] == ["out"]


def test_a_nan_batch_in_a_keras_loop_stops_before_the_keras_optimizer_updates() -> None:
    from deeplocalize.cli_exec import instrumentation
    from deeplocalize.errors import StopTraining

    model = _model(out_act="linear")
    monitor = Monitor("torch", on_fault="stop")
    with pytest.raises(StopTraining), instrumentation(monitor):
        _own_loop(model, "keras", nan_at=12)
    assert all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights)
    first = monitor.finish(stopped_early=True).faults[0]
    assert (first.symptom, first.phase, first.step) == ("numerical_error", "data", 12)


def test_fit_under_run_is_watched_once_by_the_keras_callback() -> None:
    from deeplocalize.cli_exec import instrumentation

    x, y = _data()
    monitor = Monitor("torch", on_fault="continue")
    with instrumentation(monitor):
        _model().fit(x, y, batch_size=32, epochs=1, verbose=0)
    diagnosis = monitor.finish(completed=True)
    assert diagnosis.steps_observed == 8  # not 16: the torch probe leaves a model fit trains alone
    assert [layer.name for layer in diagnosis.layers] == ["h", "out"]


def test_a_second_model_fitted_on_a_base_a_first_one_fitted_is_a_model_of_its_own_under_run() -> None:
    """Transfer learning: a proxy model fits a base first, then a classifier built on the frozen base fits
    (the base's symbolic call while the proxy is built is no training loop of the script's own). Each
    model gets its own trace: the classifier's first loss, at chance, is no rise of the proxy's (once a
    "loss does not decrease" false alarm that stopped the run)."""
    from deeplocalize.cli_exec import instrumentation

    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32") + (x[:, 2] > 0.5).astype("int32")
    monitor = Monitor("torch")
    with instrumentation(monitor):
        keras.utils.set_random_seed(0)
        base = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu", name="b")])
        proxy = keras.Sequential([base, keras.layers.Dense(3, activation="softmax", name="proxy_out")])
        proxy.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
        proxy.fit(x, y, batch_size=16, epochs=3, verbose=0)
        base.trainable = False
        model = keras.Sequential([base, keras.layers.Dense(3, activation="softmax", name="out")])
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=16, epochs=4, verbose=0)
    diagnosis = monitor.finish(completed=True)
    assert [(d.model, d.steps_observed) for d in diagnosis.models] == [(proxy.name, 96), (model.name, 128)]
    messages = [f.message for f in diagnosis.findings]
    assert diagnosis.verdict == "healthy" and not diagnosis.stopped_early, messages


@pytest.mark.parametrize("resets", [True, False])
def test_a_custom_train_step_that_never_resets_its_gradients_is_a_fault(resets: bool) -> None:
    """A custom ``train_step`` on the torch backend that calls ``loss.backward()`` without ``zero_grad()``
    (Deep Learning with Python's own example, issue #293): every update follows the sum of all gradients."""

    class Custom(keras.Model):
        def train_step(self, data: object) -> dict:
            x, y = data
            if resets:
                self.zero_grad()
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
            loss.backward()
            weights = self.trainable_weights
            with torch.no_grad():
                self.optimizer.apply([v.value.grad for v in weights], weights)
            return {"loss": loss}

    x, y = _data()
    keras.utils.set_random_seed(1)
    inputs = keras.Input((8,))
    hidden = keras.layers.Dense(16, activation="relu", name="h")(inputs)
    model = Custom(inputs, keras.layers.Dense(1, activation="sigmoid", name="out")(hidden))
    model.compile(keras.optimizers.SGD(0.05), "binary_crossentropy")
    callback = dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=0)
    model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[callback])
    found = [f for f in callback.diagnosis.findings if f.evidence.get("pattern") == "not_reset"]
    if resets:
        assert found == []
    else:
        assert found and found[0].step == 2 and "self.zero_grad()" in callback.diagnosis.root_causes[0].fix


def test_train_on_batch_of_numpy_batches_is_watched_under_run() -> None:
    """``train_on_batch`` gives the model numpy arrays (a functional model's first real call): they are data,
    not one of Keras's symbolic calls on ``KerasTensor``s (once taken for one, the run went unwatched)."""
    from deeplocalize.cli_exec import instrumentation

    x, y = _data()
    monitor = Monitor("torch", on_fault="continue")
    with instrumentation(monitor):
        keras.utils.set_random_seed(1)
        inputs = keras.Input((8,))
        hidden = keras.layers.Dense(16, activation="relu", name="h")(inputs)
        model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="out")(hidden))
        model.compile(keras.optimizers.SGD(0.05), "binary_crossentropy")
        for i in range(40):
            model.train_on_batch(x[i % 8 * 32:i % 8 * 32 + 32], y[i % 8 * 32:i % 8 * 32 + 32])
    diagnosis = monitor.finish(completed=True)
    assert diagnosis.steps_observed == 40 and [layer.name for layer in diagnosis.layers][-2:] == ["h", "out"]


def test_a_keras_gan_trained_by_a_loop_of_its_own_is_two_healthy_models() -> None:
    """Generator and discriminator, each updated by its own Keras optimizer: the optimizers' ``apply`` are
    their steps, so each model gets its own steps and its adversarial loss (which is not meant to go down)
    is never judged as a stall; the optimizer's facts are Keras's."""
    from deeplocalize.cli_exec import instrumentation

    keras.utils.set_random_seed(0)
    real = torch.from_numpy(np.random.default_rng(0).normal(2.0, 0.5, size=(4096, 2)).astype("float32"))
    dense = keras.layers.Dense
    gen = keras.Sequential([keras.Input((4,)), dense(32, activation="relu"), dense(2)])
    disc = keras.Sequential([keras.Input((2,)), dense(32, activation="relu"), dense(1)])
    g_opt, d_opt = keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3)
    bce = torch.nn.BCEWithLogitsLoss()

    def apply(opt: keras.optimizers.Optimizer, model: keras.Model) -> None:
        weights = model.trainable_weights
        with torch.no_grad():
            opt.apply([v.value.grad for v in weights], weights)

    monitor = Monitor("torch", on_fault="stop")
    with instrumentation(monitor):
        for step in range(300):
            xb, z = real[(step * 64) % 4096:][:64], torch.randn(64, 4)
            fake = gen(z, training=True)
            d_loss = bce(disc(xb, training=True), torch.ones(64, 1)) + bce(
                disc(fake.detach(), training=True), torch.zeros(64, 1))
            disc.zero_grad()
            d_loss.backward()
            apply(d_opt, disc)
            g_loss = bce(disc(fake, training=True), torch.ones(64, 1))
            gen.zero_grad()
            disc.zero_grad()
            g_loss.backward()
            apply(g_opt, gen)
    diagnosis = monitor.finish(completed=True)
    assert diagnosis.verdict == "healthy" and not diagnosis.stopped_early, diagnosis.findings
    assert len(diagnosis.models) == 2 and all(m.steps_observed >= 299 for m in diagnosis.models)
    assert monitor.model.optimizer is not None and monitor.model.optimizer.name == "adam"
    assert monitor.model.optimizer.lr == pytest.approx(1e-3)


def test_the_classic_keras_gan_of_two_compiled_models_is_two_healthy_adversaries() -> None:
    """The keras-io / DLwP shape: a compiled discriminator, frozen inside a compiled combined model that
    trains the generator, both by ``train_on_batch``. The combined model's output is the discriminator's, so
    its loss belongs to the discriminator, which its own optimizer trains against it: adversaries, whose
    losses are not meant to go down (both used to be stopped as faulty). Reports name the models as Keras
    does."""
    from deeplocalize.cli_exec import instrumentation

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    dense = keras.layers.Dense
    gen = keras.Sequential([keras.Input((4,)), dense(32, activation="relu"), dense(2)], name="generator")
    disc = keras.Sequential([keras.Input((2,)), dense(32, activation="relu"), dense(1, activation="sigmoid")],
                            name="discriminator")
    disc.compile(keras.optimizers.Adam(1e-3, beta_1=0.5), "binary_crossentropy")
    disc.trainable = False
    z_in = keras.Input((4,))
    gan = keras.Model(z_in, disc(gen(z_in)), name="gan")
    gan.compile(keras.optimizers.Adam(1e-3, beta_1=0.5), "binary_crossentropy")
    ones, labels = np.ones((64, 1), "float32"), np.concatenate([np.ones((64, 1)), np.zeros((64, 1))])
    monitor = Monitor("torch", on_fault="stop")
    with instrumentation(monitor):
        for _ in range(150):
            fake = gen.predict_on_batch(rng.standard_normal((64, 4)).astype("float32"))
            real = rng.normal(2.0, 0.5, size=(64, 2)).astype("float32")
            disc.trainable = True
            disc.train_on_batch(np.concatenate([real, fake]), labels.astype("float32"))
            disc.trainable = False
            gan.train_on_batch(rng.standard_normal((64, 4)).astype("float32"), ones)
    diagnosis = monitor.finish(completed=True)
    assert diagnosis.verdict == "healthy" and not diagnosis.stopped_early, diagnosis.findings
    assert sorted(m.model for m in diagnosis.models) == ["discriminator", "gan"]


def test_dl_watch_of_a_keras_model_stepped_by_a_keras_optimizer() -> None:
    """``dl.watch(keras_model)`` in a loop of the script's own: the Keras layers are its layers, each Keras
    ``apply`` a step; a sigmoid output fed to a logits loss is found at its layer."""
    model = _model(out_act="sigmoid")
    with dl.watch(model, store=False, on_fault="continue") as run:
        _own_loop(model, "keras", steps=30)
    diagnosis = run.diagnosis
    assert diagnosis.steps_observed == 30 and diagnosis.tool_errors == []
    assert [layer.name for layer in diagnosis.layers] == ["h", "out"]
    assert [f.layer.name for f in diagnosis.faults if f.symptom == "activation_loss_mismatch"] == ["out"]


def test_a_keras_loop_of_its_own_trains_bit_for_bit_the_same_watched() -> None:
    """Under ``deeplocalize run``'s instruments, a Keras model with a dropout layer, stepped by a Keras
    optimizer, ends with exactly the weights it gets unwatched (statistics steps included)."""
    from deeplocalize.cli_exec import instrumentation

    def train(watched: bool) -> list[np.ndarray]:
        model = _model(out_act="linear", dropout=True)
        torch.manual_seed(0)
        if watched:
            with instrumentation(Monitor("torch", on_fault="continue")):
                _own_loop(model, "keras", steps=45)
        else:
            _own_loop(model, "keras", steps=45)
        return [keras.ops.convert_to_numpy(w) for w in model.weights]

    for plain, watched in zip(train(False), train(True), strict=True):
        assert np.array_equal(plain, watched)


def test_keras_variables_trained_with_no_model_are_watched_as_tensors() -> None:
    """A from-scratch logistic regression of ``keras.Variable``s (no layer, no model), a hand-written loss
    and a Keras optimizer: its variables are the layers, under the script's names; training is unchanged."""
    from deeplocalize.cli_exec import instrumentation

    x, y = (torch.from_numpy(a) for a in _data())
    onehot = torch.nn.functional.one_hot(y.long().reshape(-1), 2).float()

    trained: list[str] = []  # Keras 3.5's matmul passes no gradient to a Variable: only what autograd trains

    def train() -> np.ndarray:
        weights = keras.Variable(np.ones((x.shape[1], 2), "float32"))
        bias = keras.Variable(np.zeros(2, "float32"))
        opt = keras.optimizers.SGD(0.05)
        for step in range(80):
            rows = slice((step * 32) % len(x), (step * 32) % len(x) + 32)
            probs = keras.ops.softmax(keras.ops.matmul(x[rows], weights) + bias)
            loss = keras.ops.mean(-keras.ops.sum(onehot[rows] * keras.ops.log(probs + 1e-7), axis=1))
            for v in (weights, bias):
                v.value.grad = None
            loss.backward()
            with torch.no_grad():
                opt.apply([weights.value.grad, bias.value.grad], [weights, bias])
        trained[:] = [name for name, v in (("weights", weights), ("bias", bias)) if v.value.grad is not None]
        return keras.ops.convert_to_numpy(weights)

    plain = train()
    monitor = Monitor("torch", on_fault="continue")
    with instrumentation(monitor):
        watched = train()
    diagnosis = monitor.finish(completed=True)
    np.testing.assert_array_equal(watched, plain)
    assert [layer.name for layer in diagnosis.layers] == trained and trained[-1] == "bias"
    assert diagnosis.steps_observed == 80 and diagnosis.tool_errors == []


@pytest.mark.parametrize("teacher_under_no_grad", [True, False])
def test_a_teacher_a_custom_train_step_runs_without_gradients_is_a_fixed_part(
        teacher_under_no_grad: bool) -> None:
    """keras-io's distillation on the torch backend: the model's own ``train_step`` runs the teacher without
    gradients and updates the student only. The teacher is fixed on purpose (a warning, the run is not
    faulty). A step that lets the gradient reach the teacher and still never updates it left it out by
    mistake (a fault)."""

    class Distiller(keras.Model):
        def __init__(self, teacher: keras.Model, student: keras.Model) -> None:
            super().__init__()
            self.teacher, self.student = teacher, student

        def call(self, x: object) -> object:
            return self.student(x)

        def train_step(self, data: object) -> dict:
            x, y = data
            if teacher_under_no_grad:
                with torch.no_grad():
                    soft = self.teacher(x, training=False)
            else:
                soft = self.teacher(x, training=False)
            pred = self.student(x, training=True)
            loss = (keras.losses.binary_crossentropy(y[:, None], pred)
                    + keras.ops.mean((pred - soft) ** 2, axis=-1))
            loss = keras.ops.mean(loss)
            self.zero_grad()
            loss.backward()
            weights = self.student.trainable_weights
            with torch.no_grad():
                self.optimizer.apply([v.value.grad for v in weights], weights)
            return {"loss": loss}

    x, y = _data(512)
    keras.utils.set_random_seed(1)
    teacher = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                                keras.layers.Dense(1, activation="sigmoid")], name="teacher")
    student = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),
                                keras.layers.Dense(1, activation="sigmoid")], name="student")
    model = Distiller(teacher, student)
    model.compile(keras.optimizers.Adam(1e-2))
    callback = dl.keras.DeepLocalize(on_fault="continue", store=False, verbose=0)
    model.fit(x, y, batch_size=32, epochs=8, verbose=0, callbacks=[callback])
    d = callback.diagnosis
    assert d.tool_errors == []
    (found,) = [f for f in d.findings if f.symptom == "unchanged_weights"]
    assert found.layer.name == "teacher"
    if teacher_under_no_grad:
        assert d.verdict != "faulty" and found.severity == "warning" and found.evidence["fixed_part"]
    else:
        assert d.verdict == "faulty" and found.severity == "fault" and "no_gradient" not in found.evidence
