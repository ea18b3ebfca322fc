"""TorchCollector: per-layer statistics of torch modules, one StepRecord per training step.

Reusable by any driver that can tell where a step ends: the PyTorch session (optimizer-step hooks) and the
Keras probe under the torch backend (Keras layers are torch modules; the callback ends the step).
"""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from deeplocalize import summary
from deeplocalize.model import LayerInfo
from deeplocalize.monitor import Monitor
from deeplocalize.probes import torch_reduce as red
from deeplocalize.probes.torch_facts import RELU_FAMILY, activation_of, default_unit_axis
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Channel

_MAX_DEPTH = 4


class LayerSlot:
    """One observed layer: its module, name, forward-order index (None until its first training call)."""

    __slots__ = (
        "__weakref__",
        "activation",
        "explicit_params",
        "index",
        "module",
        "name",
        "output_shape",
        "recurse",
        "unit_axis",
    )

    def __init__(self, module: nn.Module, name: str, index: int | None = None, activation: str | None = None,
                 unit_axis: int | None = None, params: Sequence[torch.Tensor] | None = None,
                 recurse: bool = False) -> None:
        self.module = module
        self.name = name
        self.index = index
        self.activation = activation
        self.unit_axis = unit_axis
        self.explicit_params = None if params is None else list(params)
        self.recurse = recurse
        self.output_shape: tuple[int, ...] | None = None

    def params(self) -> list[torch.Tensor]:
        """The layer's parameters, looked up now (so a model moved to another device is followed)."""
        if self.explicit_params is not None:
            return self.explicit_params
        return list(self.module.parameters(recurse=self.recurse))


def iter_tensors(obj: Any, depth: int = 0) -> Iterator[torch.Tensor]:
    """Tensors found in an output/input: tensors, tuples, lists, dicts, dataclasses; the rest is ignored."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif depth >= _MAX_DEPTH:
        return
    elif isinstance(obj, list | tuple):
        for item in obj:
            yield from iter_tensors(item, depth + 1)
    elif isinstance(obj, Mapping):
        for item in obj.values():
            yield from iter_tensors(item, depth + 1)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from iter_tensors(getattr(obj, f.name, None), depth + 1)


class TorchCollector:
    """Reduces every observed tensor on its device and builds one ``StepRecord`` per step.

    ``TorchCollector(monitor, layers=None, *, layer_infos=None, params=None)``

    - ``layers``: ``[(index, name, module), ...]`` with fixed forward-order indices (the Keras path), or
      None and layers are added with ``add_layer`` (the torch path; indices then follow the order of the
      first training forward call).
    - ``layer_infos``: ``{index: LayerInfo}``; its ``activation`` and ``unit_axis`` say where dead-unit
      (ReLU family) and saturation (sigmoid/tanh/softmax) fractions are measured.
    - ``params``: ``{index: [tensor, ...]}``, each layer's parameters (default: ``module.parameters()``).

    Per step, in order: forward hooks (``attach()`` installs per-module hooks on the given layers; the torch
    session calls ``forward_pre``/``forward_post`` from global hooks), output-gradient tensor hooks during
    backward, ``snapshot_params()`` before the optimizer update (needed for UPDATE, on full-statistics steps
    only), ``measure_grads()`` (else done in ``end_step``), then ``end_step(step=None, epoch=0, loss=None,
    lr=None, metrics=None) -> StepRecord | None``, which makes the single host transfer of the step, calls
    ``monitor.record`` and returns the record. A forward counts only when ``should_record(module)``:
    grad mode on and ``module.training``. The collector never raises into training: callers guard it.
    """

    def __init__(self, monitor: Monitor, layers: Sequence[tuple[int, str, nn.Module]] | None = None, *,
                 layer_infos: Mapping[int, LayerInfo] | None = None,
                 params: Mapping[int, Sequence[torch.Tensor]] | None = None) -> None:
        self.monitor = monitor
        self.slots: dict[nn.Module, LayerSlot] = {}
        self.step = 0  # last completed step
        self.layers_changed = False
        self.before_emit: Callable[[StepRecord], None] | None = None
        self._next_index = 0
        self._handles: list[Any] = []
        infos = dict(layer_infos or {})
        for index, name, module in layers or ():
            info = infos.get(index)
            self.add_layer(module, name, index=index, activation=info.activation if info else None,
                           unit_axis=info.unit_axis if info else None,
                           params=(params or {}).get(index), recurse=True)
        self._reset()

    # ------------------------------------------------------------------ layers
    def add_layer(self, module: nn.Module, name: str, index: int | None = None, activation: str | None = None,
                  unit_axis: int | None = None, params: Sequence[torch.Tensor] | None = None,
                  recurse: bool = False) -> LayerSlot:
        """Register a layer (index None: assigned at its first training forward call)."""
        if activation is None:
            activation = activation_of(module)
        slot = LayerSlot(module, name, index, activation, unit_axis, params, recurse)
        self.slots[module] = slot
        if index is not None:
            self._next_index = max(self._next_index, index + 1)
            self.layers_changed = True
        return slot

    def ordered(self) -> list[LayerSlot]:
        """Layers that have an index, in forward order."""
        return sorted((s for s in self.slots.values() if s.index is not None), key=lambda s: s.index)

    def attach(self) -> None:
        """Install per-module forward hooks on every registered layer."""
        for module, slot in self.slots.items():
            self._handles.append(module.register_forward_pre_hook(self._pre_hook(slot)))
            self._handles.append(module.register_forward_hook(self._post_hook(slot)))

    def detach(self) -> None:
        """Remove the hooks installed by ``attach``."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _pre_hook(self, slot: LayerSlot) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any) -> None:
            self._guard("forward pre-hook", self.forward_pre, slot, args)
        return hook

    def _post_hook(self, slot: LayerSlot) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            self._guard("forward hook", self.forward_post, slot, args, output)
        return hook

    def _guard(self, where: str, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # an error in the probe must never break training
            self.monitor.tool_error(f"torch probe {where}", exc)

    # ------------------------------------------------------------------ step state
    def _reset(self) -> None:
        self.buffer = red.StepBuffer()
        self.open = False
        self.full = False
        self.activity = False  # a layer or the model input was observed this step
        self._snapshot: dict[LayerSlot, list[tuple[torch.Tensor, torch.Tensor]]] | None = None
        self._grads_done = False
        self._seen: dict[int, tuple[weakref.ref, int, torch.Tensor | None, LayerSlot | None]] = {}

    def _open(self) -> None:
        if not self.open:
            self.open = True
            self.full = self.step % max(1, int(self.monitor.config.stats_every)) == 0

    @staticmethod
    def should_record(module: nn.Module | None = None) -> bool:
        """Is this forward part of a training step? (grad mode on and the module in training mode)."""
        return torch.is_grad_enabled() and (module is None or module.training)

    # ------------------------------------------------------------------ observations
    def _count(self, t: torch.Tensor) -> torch.Tensor | None:
        """Non-finite count scalar of a tensor, reusing the one of an identical already-seen tensor."""
        hit = self._seen.get(id(t))
        if hit is not None and hit[0]() is t and hit[1] == t._version:
            return hit[2]
        return red.nonfinite_count(t) if t.is_floating_point() else None

    def _remember(self, t: torch.Tensor, count: torch.Tensor | None, slot: LayerSlot | None) -> None:
        with contextlib.suppress(TypeError, RuntimeError):  # tensors without weakref/version support
            self._seen[id(t)] = (weakref.ref(t), t._version, count, slot)

    def _observe(self, key: Any, t: torch.Tensor, slot: LayerSlot | None = None,
                 units_axis: int | None = None, band: tuple[float, float] | None = None) -> None:
        """Reduce ``t`` (full or count, per the step) and add it under ``key``."""
        if t.is_complex() or t.is_sparse:
            return
        numel = t.numel()
        if numel == 0:
            self.buffer.add(key, "count", 0)
            return
        if not self.full:
            count = red.nonfinite_count(t) if t.is_floating_point() else None
            self.buffer.add(key, "count", numel, [] if count is None else [count])
            self._remember(t, count, slot)
            return
        scalars = red.full_scalars(t)
        units = None
        if units_axis is not None and t.dim() >= 1:
            units = t.shape[units_axis] if t.dim() >= 2 else numel
            scalars.append(red.dead_units(t, units_axis))
        if band is not None:
            scalars.append(red.saturated_count(t, band))
        self.buffer.add(key, "full", numel, scalars, extra=(units, band is not None))
        self._remember(t, scalars[0] if t.is_floating_point() else None, slot)

    def forward_pre(self, slot: LayerSlot, args: Any) -> None:
        """Before a layer's forward: non-finite count of its inputs (reused from their producer)."""
        if not self.should_record(slot.module):
            return
        self._open()
        for t in iter_tensors(args):
            if t.is_complex() or t.is_sparse:
                continue
            count = self._count(t)
            self.buffer.add((slot, Channel.INPUT), "count", t.numel(), [] if count is None else [count])

    def forward_post(self, slot: LayerSlot, args: Any, output: Any) -> None:
        """After a layer's forward: index on first call, OUTPUT summaries, output-gradient hooks."""
        if not self.should_record(slot.module):
            return
        self._open()
        self.activity = True
        tensors = list(iter_tensors(output))
        if slot.index is None:
            slot.index = self._next_index
            self._next_index += 1
            self.layers_changed = True
        if slot.output_shape is None and tensors:
            slot.output_shape = tuple(int(s) for s in tensors[0].shape)
            if slot.unit_axis is None:
                slot.unit_axis = self._unit_axis(slot, args, tensors[0])
        dead_axis = slot.unit_axis if slot.activation in RELU_FAMILY else None
        band = summary.SATURATION_BANDS.get(slot.activation or "")
        for t in tensors:
            axis = dead_axis if dead_axis is not None and t.dim() > (dead_axis % max(t.dim(), 1)) else None
            self._observe((slot, Channel.OUTPUT), t, slot, axis, band)
            if t.requires_grad:
                t.register_hook(self._grad_hook(slot))

    def _unit_axis(self, slot: LayerSlot, args: Any, out: torch.Tensor) -> int | None:
        """Feature axis of the output: conv 1, linear last; elementwise layers inherit their producer's."""
        if slot.activation not in (None, "linear") or type(slot.module).__name__ in ("Dropout", "Identity"):
            for t in iter_tensors(args):
                hit = self._seen.get(id(t))
                producer = hit[3] if hit is not None and hit[0]() is t else None
                if producer is not None and producer.unit_axis is not None and t.dim() == out.dim():
                    return producer.unit_axis
                break
        return default_unit_axis(slot.module, out.dim())

    def _grad_hook(self, slot: LayerSlot) -> Callable[[torch.Tensor], None]:
        def hook(grad: torch.Tensor) -> None:
            try:
                self._open()
                self._observe((slot, Channel.OUTPUT_GRAD), grad)
            except Exception as exc:
                self.monitor.tool_error("torch probe gradient hook", exc)
        return hook

    def observe_data(self, x: Any) -> None:
        """The input batch of the model (first tensor found) -> ``record.data``."""
        for t in iter_tensors(x):
            self._open()
            self.activity = True
            self._observe("data", t)
            return

    def observe_target(self, y: Any) -> None:
        """The labels given to the loss -> ``record.target``."""
        if isinstance(y, torch.Tensor):
            self._open()
            self._observe("target", y)

    def observe_loss(self, loss: torch.Tensor) -> None:
        """The loss tensor (on which backward is called); several per step are averaged."""
        if isinstance(loss, torch.Tensor) and loss.numel() == 1 and not loss.is_complex():
            self._open()
            self.buffer.add("loss", "value", 1, [loss.detach().reshape(()).clone()])

    def observe_accuracy(self, correct: torch.Tensor, counted: torch.Tensor) -> None:
        """Correct predictions and counted samples of one loss call (device scalars)."""
        self._open()
        self.buffer.add("accuracy", "ratio", 1, [correct, counted])

    # ------------------------------------------------------------------ parameters
    def snapshot_params(self) -> None:
        """Before the update: copy trainable parameters (full-statistics steps only), for UPDATE."""
        self._open()
        if not self.full or self._snapshot is not None:
            return
        with torch.no_grad():
            self._snapshot = {
                slot: [(p, p.detach().clone()) for p in slot.params() if p.requires_grad]
                for slot in self.ordered()
            }

    def measure_grads(self) -> None:
        """Reduce each layer's parameter gradients (once per step)."""
        if self._grads_done:
            return
        self._open()
        self._grads_done = True
        for slot in self.ordered():
            for p in slot.params():
                grad = p.grad
                if grad is not None:
                    grad = grad.coalesce().values() if grad.is_sparse else grad
                    self._observe((slot, Channel.WEIGHT_GRAD), grad)

    def _measure_weights(self) -> None:
        with torch.no_grad():
            for slot in self.ordered():
                for p in slot.params():
                    self._observe((slot, Channel.WEIGHTS), p)
            for slot, pairs in (self._snapshot or {}).items():
                for p, before in pairs:
                    if p.shape == before.shape and p.device == before.device:
                        self._observe((slot, Channel.UPDATE), p.detach() - before)

    # ------------------------------------------------------------------ the step
    def discard_step(self) -> None:
        """Forget what was collected since the last step (e.g. a stray forward at exit)."""
        self._reset()

    def end_step(self, step: int | None = None, epoch: int = 0, loss: float | torch.Tensor | None = None,
                 lr: float | None = None, metrics: Mapping[str, float] | None = None) -> StepRecord | None:
        """Close the step: weights/updates, one host transfer, ``monitor.record``; returns the record.

        ``loss`` overrides the captured loss; returns None (and records nothing) when nothing was observed.
        """
        if not self.open and loss is None and not metrics:
            return None
        self._open()
        self.measure_grads()
        self._measure_weights()
        if isinstance(loss, torch.Tensor):
            self.buffer.add("loss_override", "value", 1, [loss.detach().reshape(()).float()])
        fetched = self.buffer.fetch()
        self.step = step if step is not None else self.step + 1
        record = self._assemble(fetched, epoch, loss, lr, metrics)
        self._reset()
        if self.before_emit is not None:
            self.before_emit(record)
        self.monitor.record(record)
        return record

    def _assemble(self, fetched: list[tuple[red.Entry, np.ndarray]], epoch: int, loss: Any, lr: float | None,
                  metrics: Mapping[str, float] | None) -> StepRecord:
        vectors: dict[Any, list[np.ndarray]] = {}
        losses: list[float] = []
        override: float | None = None
        correct = counted = 0.0
        for entry, vals in fetched:
            if entry.kind == "value":
                if entry.key == "loss_override":
                    override = float(vals[0])
                else:
                    losses.append(float(vals[0]))
            elif entry.kind == "ratio":
                correct, counted = correct + float(vals[0]), counted + float(vals[1])
            else:
                vectors.setdefault(entry.key, []).append(_vector(entry, vals))
        record = StepRecord(step=self.step, epoch=epoch, lr=lr, metrics=dict(metrics or {}))
        if override is not None:
            record.loss = override
        elif loss is not None and not isinstance(loss, torch.Tensor):
            record.loss = float(loss)
        elif losses:
            record.loss = float(np.mean(losses))
        if counted > 0 and "accuracy" not in record.metrics:
            record.metrics["accuracy"] = correct / counted
        for key, vecs in vectors.items():
            vec = vecs[0] if len(vecs) == 1 else summary.combine(vecs)
            if key == "data":
                record.data = vec
            elif key == "target":
                record.target = vec
            elif key[0].index is not None:
                record.stats[(key[0].index, key[1])] = vec
        return record


def _vector(entry: red.Entry, vals: np.ndarray) -> np.ndarray:
    if entry.kind == "count":
        return red.summary_from_count(entry.numel, vals[0] if len(vals) else 0.0)
    vec = red.summary_from_full(entry.numel, vals)
    if vec[summary.NONFINITE] == 0 and entry.numel:
        units, has_band = entry.extra
        pos = red.FULL
        if units is not None:
            vec[summary.DEAD_FRAC] = float(vals[pos]) / units if units else np.nan
            pos += 1
        if has_band:
            vec[summary.SAT_FRAC] = float(vals[pos]) / entry.numel
    return vec
