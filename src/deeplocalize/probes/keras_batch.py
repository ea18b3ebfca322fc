"""Per-layer statistics for Keras backends without module hooks (TensorFlow, JAX), from a probe batch.

Keras gives a callback no access to the training batch or to the values inside ``train_step``. So, on the
steps that need full statistics, this collector runs the model once more on a fixed *probe batch* (a
deterministic spread of rows of the ``x``/``y`` given to ``fit``) in inference mode (``training=False``:
no dropout draw, no BatchNorm statistics update, no RNG consumed, so training is untouched), recording
each top-level layer's input and output by wrapping its ``call`` for the duration of that pass. Gradients
of the compiled loss with respect to each layer's output and weights come from ``tf.GradientTape`` (the
TensorFlow pass is compiled once with ``tf.function``); under JAX only the forward values are recorded.
Weights, and updates (value after the step minus before it), come from the variables themselves.

Limits: the gradients are those of the probe batch in inference mode, not of the training batch; with no
array data (a ``tf.data.Dataset`` or a generator) only weights and updates are recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from deeplocalize import summary as sm
from deeplocalize.model import LayerInfo
from deeplocalize.probes.keras_facts import to_numpy
from deeplocalize.trace import Key, StepRecord
from deeplocalize.vocabulary import Channel

#: Rows of the probe batch (evenly spread over the training set).
PROBE_ROWS = 64
#: Activations whose output measures dead units (a unit <= 0 for every sample).
DEAD_UNIT_ACTIVATIONS = frozenset({"relu", "relu6"})


def output_stats(values: np.ndarray, info: LayerInfo | None) -> np.ndarray:
    """Summary of a layer output, with dead units for ReLU layers and saturation for bounded ones."""
    activation = info.activation if info is not None else None
    unit_axis = None
    if activation in DEAD_UNIT_ACTIVATIONS and values.ndim >= 2:
        unit_axis = info.unit_axis if info is not None and info.unit_axis is not None else -1
    return sm.summarize(values, unit_axis=unit_axis, saturation=sm.SATURATION_BANDS.get(activation or ""))


def input_stats(values: np.ndarray) -> np.ndarray:
    """Only numel and the non-finite count of a layer's input."""
    vec = sm.empty()
    arr = np.asarray(values)
    vec[sm.NUMEL] = arr.size
    vec[sm.NONFINITE] = arr.size - int(np.isfinite(arr).sum()) if arr.dtype.kind == "f" else 0
    return vec


def probe_batch(x: Any, y: Any, rows: int = PROBE_ROWS) -> tuple[Any, Any] | None:
    """A fixed, evenly spread slice of the training arrays (numpy or tensors; lists/dicts of them)."""
    import keras

    def first(v: Any) -> Any:
        return keras.tree.flatten(v)[0] if v is not None else None

    head = first(x)
    if head is None or not hasattr(head, "shape") or len(head.shape) == 0:
        return None
    n = int(head.shape[0])
    candidates = np.arange(n)
    if isinstance(head, np.ndarray) and head.dtype.kind == "f":
        # the probe batch measures the model, not the data (non-finite data is a pre-flight finding)
        candidates = candidates[np.isfinite(head.reshape(n, -1)).all(axis=1)]
        if not candidates.size:
            return None
    n = candidates.size
    idx = candidates if n <= rows else candidates[np.linspace(0, n - 1, rows).astype(np.int64)]

    def take(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return v[idx]
        return to_numpy(keras.ops.take(v, idx, axis=0))

    try:
        xb = keras.tree.map_structure(take, x)
        yb = None if y is None else keras.tree.map_structure(take, y)
    except Exception:  # not array data (datasets, generators)
        return None
    return xb, yb


class _Recorder:
    """Wraps ``call`` of the top-level layers to keep their first input and their output."""

    def __init__(self, layers: list[Any]) -> None:
        self.layers = layers
        self.inputs: dict[int, Any] = {}
        self.outputs: dict[int, Any] = {}

    def __enter__(self) -> _Recorder:
        for i, layer in enumerate(self.layers):
            if "call" in vars(layer):  # already wrapped or user-patched: leave it alone
                continue
            object.__setattr__(layer, "call", self._wrap(i, layer.call))
        return self

    def _wrap(self, index: int, call: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            out = call(*args, **kwargs)
            if args:
                self.inputs[index] = args[0]
            self.outputs[index] = out
            return out

        wrapped.__wrapped__ = call  # type: ignore[attr-defined]
        return wrapped

    def __exit__(self, *exc: object) -> None:
        for layer in self.layers:
            call = vars(layer).get("call")
            if call is not None and hasattr(call, "__wrapped__"):
                object.__delattr__(layer, "call")


def _summary_of(value: Any) -> np.ndarray | None:
    """Summary of the first array of a batch structure (None when there is none or it is not numeric)."""
    import keras

    if value is None:
        return None
    head = keras.tree.flatten(value)[0]
    arr = np.asarray(head)
    return sm.summarize(arr) if arr.dtype.kind in "fiub" else None


def _tensor(value: Any) -> Any:
    """A single tensor from a layer output (first of a tuple/list), or None."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return value if hasattr(value, "shape") and hasattr(value, "dtype") else None


class ProbeBatchCollector:
    """Collects per-layer summaries for TensorFlow / JAX Keras models, at the steps the callback asks."""

    def __init__(self, model: Any, layers: list[LayerInfo], data: tuple[Any, Any] | None,
                 stats_every: int = 1) -> None:
        import keras

        self.keras = keras
        self.backend = keras.backend.backend()
        self.model = model
        self.layers = list(model.layers)
        self.info = {li.index: li for li in layers}
        self.data = data
        self._before: list[np.ndarray] | None = None
        self._fn: Callable[[Any, Any], Any] | None = None
        self._loss_fn = self._make_loss()
        self._tensors: tuple[Any, Any] | None = None
        self.every = max(1, int(stats_every))
        self._saw_nonfinite = False
        self._data_stats = None if data is None else _summary_of(data[0])
        self._target_stats = None if data is None else _summary_of(data[1])

    # ------------------------------------------------------------------ public
    def full_step(self, step: int) -> bool:
        """Steps 1, 1 + k, 1 + 2k, ... get full statistics (k = ``stats_every``, as in the torch probe)."""
        return (step - 1) % self.every == 0

    def begin_step(self, step: int) -> None:
        """Before the step: snapshot the weights when this step gets full statistics."""
        self._before = self._weights() if self.full_step(step) else None

    def end_step(self, step: int, loss_nonfinite: bool) -> StepRecord | None:
        """After the step: its summaries (full statistics on cadence, and on the first non-finite loss).

        ``data``/``target`` carry the summaries of the probe batch (a fixed sample of the training data).
        """
        first_nan = loss_nonfinite and not self._saw_nonfinite
        self._saw_nonfinite = self._saw_nonfinite or loss_nonfinite
        record = StepRecord(step=step, data=self._data_stats, target=self._target_stats)
        if not (self.full_step(step) or first_nan):
            return record
        after = self._weights()
        self._weight_stats(record.stats, after, self._before)
        self._before = None
        if self.data is not None:
            self._activation_stats(record.stats)
        return record

    def close(self) -> None:
        self._fn = None
        self._before = None

    # ------------------------------------------------------------------ weights and updates
    def _variables(self) -> list[tuple[int, Any]]:
        return [(i, v) for i, layer in enumerate(self.layers) for v in layer.trainable_weights]

    def _weights(self) -> list[np.ndarray]:
        return [to_numpy(v) for _, v in self._variables()]

    def _weight_stats(self, stats: dict[Key, np.ndarray], after: list[np.ndarray],
                      before: list[np.ndarray] | None) -> None:
        per_layer: dict[int, list[np.ndarray]] = {}
        per_update: dict[int, list[np.ndarray]] = {}
        for k, (i, _) in enumerate(self._variables()):
            per_layer.setdefault(i, []).append(sm.summarize(after[k]))
            if before is not None and before[k].shape == after[k].shape:
                per_update.setdefault(i, []).append(sm.summarize(after[k] - before[k]))
        for i, vecs in per_layer.items():
            stats[(i, Channel.WEIGHTS)] = sm.combine(vecs)
        for i, vecs in per_update.items():
            stats[(i, Channel.UPDATE)] = sm.combine(vecs)

    # ------------------------------------------------------------------ forward and backward
    def _make_loss(self) -> Callable[[Any, Any], Any] | None:
        loss = getattr(self.model, "loss", None)
        if isinstance(loss, (list, tuple, dict)) or loss is None:
            return None
        try:
            fn = self.keras.losses.get(loss) if isinstance(loss, str) else loss
        except Exception:  # an unknown loss: forward values only
            return None
        if isinstance(fn, self.keras.losses.Loss) or not callable(fn):
            return fn
        try:  # a plain function: Keras' wrapper matches target and output ranks as compiled losses do
            from keras.src.losses.losses import LossFunctionWrapper
        except ImportError:
            return fn
        return LossFunctionWrapper(fn)

    def _pass(self, xb: Any, yb: Any) -> list[Any]:
        """Inputs, outputs, output gradients and weight gradients of one inference-mode pass, flattened."""
        n = len(self.layers)
        recorder = _Recorder(self.layers)
        if self.backend == "tensorflow" and self._loss_fn is not None and yb is not None:
            import tensorflow as tf

            with tf.GradientTape() as tape, recorder:
                y_pred = self.model(xb, training=False)
                loss = self._loss_fn(yb, y_pred)
            ins = [_tensor(recorder.inputs.get(i)) for i in range(n)]
            outs = [_tensor(recorder.outputs.get(i)) for i in range(n)]
            watched = [o for o in outs if o is not None]
            variables = [v.value for _, v in self._variables()]
            grads = tape.gradient(loss, watched + variables,
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
            out_grads: list[Any] = []
            it = iter(grads[: len(watched)])
            for o in outs:
                out_grads.append(next(it) if o is not None else None)
            return ins + outs + out_grads + list(grads[len(watched):])
        if self.backend == "torch" and self._loss_fn is not None and yb is not None:
            return self._torch_pass(xb, yb, recorder)
        with recorder:
            self.model(xb, training=False)
        ins = [_tensor(recorder.inputs.get(i)) for i in range(n)]
        outs = [_tensor(recorder.outputs.get(i)) for i in range(n)]
        return ins + outs + [None] * n + [None] * len(self._variables())

    def _torch_pass(self, xb: Any, yb: Any, recorder: _Recorder) -> list[Any]:
        """The same pass under the torch backend (``torch.autograd.grad``: no ``.grad`` field is touched)."""
        import torch

        n = len(self.layers)
        with torch.enable_grad(), recorder:
            y_pred = self.model(xb, training=False)
            try:
                loss = self._loss_fn(yb, y_pred)  # type: ignore[misc]
            except RuntimeError:  # e.g. torch's BCE refuses NaN probabilities: forward values only
                loss = torch.zeros(())
        ins = [_tensor(recorder.inputs.get(i)) for i in range(n)]
        outs = [_tensor(recorder.outputs.get(i)) for i in range(n)]
        variables = [v.value for _, v in self._variables()]
        targets = [t for t in outs if t is not None and t.requires_grad]
        targets += [v for v in variables if v.requires_grad]
        grads = torch.autograd.grad(loss, targets, allow_unused=True) if loss.requires_grad else ()
        by_id = {id(t): g for t, g in zip(targets, grads, strict=False)}
        out_grads = [None if o is None else by_id.get(id(o)) for o in outs]
        w_grads = [by_id.get(id(v)) for v in variables]
        detach = [None if t is None else t.detach() for t in ins + outs]
        return detach + out_grads + w_grads

    def _compiled(self) -> Callable[[Any, Any], Any]:
        if self._fn is None:
            if self.backend == "tensorflow":
                import tensorflow as tf

                def run(xb: Any, yb: Any) -> list[Any]:
                    return [t if t is not None else tf.zeros((0,)) for t in self._pass(xb, yb)]

                self._fn = tf.function(run, reduce_retracing=True)
            else:
                self._fn = self._pass
        return self._fn

    def _activation_stats(self, stats: dict[Key, np.ndarray]) -> None:
        if self._tensors is None:
            to_tensor = self.keras.ops.convert_to_tensor
            xb, yb = self.data  # type: ignore[misc]
            self._tensors = (self.keras.tree.map_structure(to_tensor, xb),
                             None if yb is None else self.keras.tree.map_structure(to_tensor, yb))
        flat = self._compiled()(*self._tensors)
        arrays = [None if t is None else to_numpy(t) for t in flat]
        n = len(self.layers)
        ins, outs, ograds, wgrads = arrays[:n], arrays[n:2 * n], arrays[2 * n:3 * n], arrays[3 * n:]
        for i in range(n):
            if outs[i] is None or outs[i].size == 0:
                continue
            stats[(i, Channel.OUTPUT)] = output_stats(outs[i], self.info.get(i))
            if ins[i] is not None and ins[i].size:
                stats[(i, Channel.INPUT)] = input_stats(ins[i])
            if ograds[i] is not None and ograds[i].size:
                stats[(i, Channel.OUTPUT_GRAD)] = sm.summarize(ograds[i])
        per_layer: dict[int, list[np.ndarray]] = {}
        for (i, _), grad in zip(self._variables(), wgrads, strict=True):
            if grad is not None and grad.size:
                per_layer.setdefault(i, []).append(sm.summarize(grad))
        for i, vecs in per_layer.items():
            stats[(i, Channel.WEIGHT_GRAD)] = sm.combine(vecs)
