"""TorchCollector: per-layer statistics of torch modules, one StepRecord per training step.

Reusable by any driver that can tell where a step ends: the PyTorch session (optimizer-step hooks) and the
Keras probe under the torch backend (Keras layers are torch modules; the callback ends the step).

Cost model (docs/performance.md): every step, a one-pass finiteness flag per output / output gradient /
batch (none for pass-through layers, which reuse their input's), one fused norm over all parameter
gradients and one over all parameters, one host copy (on a GPU it runs behind the kernels and the step is
completed later, see ``end_step``); every ``stats_every`` steps, full statistics. Activations are not
held (holding them was slower on CPU and costs GPU memory), so a flagged activation's ``nonfinite`` is 1,
a lower bound; parameters, gradients and updates get exact counts in a second host copy made only on a
step where a NaN/Inf was seen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
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
from deeplocalize.probes.torch_facts import RELU_FAMILY, activation_of, default_unit_axis, is_pass_through
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Channel

_MAX_DEPTH = 4
#: What a full-statistics step computes per channel (each statistic is a pass over the tensor): only what the
#: detectors and reports read. Output gradients: their norm and mean (NaN localization, gradient plots);
#: weight gradients also their zero fraction (recurrent layers cut off from earlier time steps).
_STATS = red.Layout()
_RELU_STATS = red.Layout(zeros=True)  # ReLU-family outputs: also the share of zeros (reports, baselines)
_GRAD_STATS = red.Layout(extremes=False)
_WEIGHT_GRAD_STATS = red.Layout(zeros=True)
_UNKNOWN = object()
#: Held-back records reach the monitor at least this often (seconds), so slow steps are not shown late.
_MAX_HOLD_S = 1.0
#: Parameters of one layer up to this many elements are concatenated before reduction (full steps).
_CAT_LIMIT = 1 << 22


class LayerSlot:
    """One observed layer: its module, name, forward-order index (None until its first training call)."""

    __slots__ = (
        "__weakref__",
        "activation",
        "explicit_params",
        "grad_hook",
        "in_flag",
        "index",
        "input_key",
        "is_root",
        "module",
        "name",
        "output_key",
        "output_shape",
        "pass_through",
        "recurse",
        "unit_axis",
        "weight_grad_key",
        "weights_key",
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
        self.pass_through = is_pass_through(module)
        self.is_root = False  # the model itself (a one-layer model): its input is the batch
        self.in_flag: Any = _UNKNOWN  # finiteness flag of this call's single input tensor, set by forward_pre
        self.input_key = (self, Channel.INPUT)
        self.output_key = (self, Channel.OUTPUT)
        self.weight_grad_key = (self, Channel.WEIGHT_GRAD)
        self.weights_key = (self, Channel.WEIGHTS)
        self.grad_hook: Callable[[torch.Tensor], None] | None = None  # set by the collector

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
    lr=None, metrics=None) -> StepRecord | None``, which makes the single host transfer of the step and
    hands the record to ``monitor.record`` (later on a GPU or in a batch: ``flush`` hands over everything).
    A forward counts only when ``should_record(module)``: grad mode on and ``module.training``. The
    collector never raises into training: callers guard it.
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
        self._ordered: list[LayerSlot] | None = None
        self._params: list[tuple[LayerSlot, list[torch.Tensor]]] | None = None
        #: the last clean cheap step's record layout: (entry signature, record keys, summary rows)
        self._template: tuple[list[Any], list[Any], np.ndarray] | None = None
        #: hold back the records of clean, routine steps and hand them to the monitor in a batch (see
        #: ``end_step``); the Keras path, which reads each record at once, leaves it off
        self.defer_clean = False
        self._deferred: list[StepRecord] = []
        self._deferred_since = 0.0
        #: a step whose host copy is in flight (GPU); None (default): only CUDA copies run behind, True: any
        #: device's (tests), False: none
        self._pending: _Pending | None = None
        self.async_copy: bool | None = None
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
        slot.grad_hook = self._grad_hook(slot)
        self.slots[module] = slot
        self._ordered = self._params = None
        if index is not None:
            self._next_index = max(self._next_index, index + 1)
            self.layers_changed = True
        return slot

    def ordered(self) -> list[LayerSlot]:
        """Layers that have an index, in forward order (cached; a new layer or index resets it)."""
        if self._ordered is None:
            self._ordered = sorted((s for s in self.slots.values() if s.index is not None),
                                   key=lambda s: s.index)
        return list(self._ordered)

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
        #: parameters, their gradients and updates observed this step (alive at step end anyway): their
        #: exact non-finite counts are computed only on a step where a fetched number is NaN/Inf.
        self._kept: list[torch.Tensor] = []
        #: id(tensor) -> (weakref, version, flag scalar, producing layer): inputs reuse their producer's flag
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
    def _flag(self, t: torch.Tensor) -> torch.Tensor | None:
        """Finiteness flag of a tensor (its sum), reusing the one of an identical already-seen tensor."""
        hit = self._seen.get(id(t))
        if hit is not None and hit[0]() is t and hit[1] == t._version:
            return hit[2]
        return red.finite_flag(t)

    def _remember(self, t: torch.Tensor, flag: torch.Tensor | None, slot: LayerSlot | None) -> None:
        with contextlib.suppress(TypeError, RuntimeError):  # tensors without weakref/version support
            self._seen[id(t)] = (weakref.ref(t), t._version, flag, slot)

    def _observe(self, key: Any, t: torch.Tensor, slot: LayerSlot | None = None,
                 units_axis: int | None = None, band: tuple[float, float] | None = None,
                 keep: bool = False, layout: red.Layout = _STATS) -> torch.Tensor | None:
        """Reduce ``t`` on its device: a finiteness flag, or full statistics on full steps.

        ``keep``: hold a reference (parameters, gradients, updates) for an exact count on a faulty step.
        Returns the tensor's finiteness flag (None: integer, empty or not measured).
        """
        if t.is_complex() or t.is_sparse:
            return None
        numel = t.numel()
        if numel == 0:
            self.buffer.add(key, "flag", 0)
            return None
        kept = -1
        if keep:
            kept = len(self._kept)
            self._kept.append(t)
        if not self.full:
            flag = red.finite_flag(t)
            self.buffer.add(key, "flag", numel, () if flag is None else (flag,), extra=(kept, None, False))
            if slot is not None:
                self._remember(t, flag, slot)
            return flag
        scalars = red.stat_scalars(t, layout)
        units = None
        if units_axis is not None and t.dim() >= 1:
            units = t.shape[units_axis] if t.dim() >= 2 else numel
            scalars.append(red.dead_units(t, units_axis))
        if band is not None:
            scalars.append(red.saturated_count(t, band))
        self.buffer.add(key, "full", numel, scalars, extra=(kept, units, band is not None, layout))
        flag = scalars[2 * layout.extremes] if t.is_floating_point() else None
        if slot is not None:
            self._remember(t, flag, slot)
        return flag

    def forward_pre(self, slot: LayerSlot, args: Any) -> None:
        """Before a layer's forward: finiteness of its inputs (reused from their producer)."""
        if not (torch.is_grad_enabled() and slot.module.training):
            return
        if not self.open:
            self._open()
        key, buffer = slot.input_key, self.buffer
        single = len(args) == 1 and isinstance(args[0], torch.Tensor)
        slot.in_flag = _UNKNOWN
        for t in args if single else iter_tensors(args):
            if not (t.is_complex() or t.is_sparse):
                flag = self._flag(t)
                buffer.add(key, "flag", t.numel(), () if flag is None else (flag,))
                if single:
                    slot.in_flag = flag

    def forward_post(self, slot: LayerSlot, args: Any, output: Any) -> None:
        """After a layer's forward: index on first call, OUTPUT (kept; reduced on full steps), grad hooks."""
        if not (torch.is_grad_enabled() and slot.module.training):
            return
        if not self.open:
            self._open()
        self.activity = True
        tensors = (output,) if isinstance(output, torch.Tensor) else list(iter_tensors(output))
        if slot.index is None:
            slot.index = self._next_index
            self._next_index += 1
            self.layers_changed = True
            self._ordered = self._params = self._template = None
        if slot.output_shape is None and tensors:
            slot.output_shape = tuple(int(s) for s in tensors[0].shape)
            if slot.unit_axis is None:
                slot.unit_axis = self._unit_axis(slot, args, tensors[0])
        if slot.pass_through and not self.full and slot.in_flag is not _UNKNOWN:
            # finite input -> finite output, forward and backward: reuse the input's flag (its gradient is
            # not observed on any step)
            flag, key = slot.in_flag, slot.output_key
            for t in tensors:
                self.buffer.add(key, "flag", t.numel(), () if flag is None else (flag,))
                self._remember(t, flag, slot)
            return
        relu = slot.activation in RELU_FAMILY
        dead_axis = slot.unit_axis if self.full and relu else None
        band = summary.SATURATION_BANDS.get(slot.activation or "") if self.full else None
        key, hook, layout = slot.output_key, slot.grad_hook, _RELU_STATS if relu else _STATS
        for t in tensors:
            fits = dead_axis is not None and t.dim() > (dead_axis % max(t.dim(), 1))
            self._observe(key, t, slot, dead_axis if fits else None, band, layout=layout)
            if t.requires_grad and not slot.pass_through:  # their gradients cannot start a NaN either
                t.register_hook(hook)

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
        key = (slot, Channel.OUTPUT_GRAD)

        def hook(grad: torch.Tensor | None) -> None:
            if grad is None:  # an output the loss does not depend on (cuDNN's LSTM passes None for h, c)
                return
            try:
                if not self.open:
                    self._open()
                self._observe(key, grad, layout=_GRAD_STATS)
            except Exception as exc:
                self.monitor.tool_error("torch probe gradient hook", exc)
        return hook

    def observe_data(self, x: Any) -> None:
        """The input batch of the model (first tensor found) -> ``record.data``."""
        for t in iter_tensors(x):
            self._open()
            self.activity = True
            self._remember(t, self._observe("data", t), None)  # the first layer's input reuses the flag
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
    def _param_table(self) -> list[tuple[LayerSlot, list[torch.Tensor]]]:
        """(layer, parameters) in forward order; cached, refreshed on full steps and when layers change."""
        if self._params is None or self.full:
            self._params = [(slot, slot.params()) for slot in self.ordered()]
        return self._params

    def snapshot_params(self) -> None:
        """Before the update: copy trainable parameters (full-statistics steps only), for UPDATE."""
        self._open()
        if not self.full or self._snapshot is not None:
            return
        with torch.no_grad():
            self._snapshot = {
                slot: [(p, p.detach().clone()) for p in params if p.requires_grad]
                for slot, params in self._param_table()
            }

    def measure_grads(self) -> None:
        """Parameter gradients, once per step: full statistics, or one fused norm per device and dtype."""
        if self._grads_done:
            return
        self._open()
        self._grads_done = True
        items: list[tuple[Any, torch.Tensor]] = []
        for slot, params in self._param_table():
            key = slot.weight_grad_key
            for p in params:
                grad = p.grad
                if grad is not None:
                    items.append((key, grad.coalesce().values() if grad.is_sparse else grad))
        if not items:
            return
        if self.full:
            self._observe_layers(items, _WEIGHT_GRAD_STATS)
        else:
            self._observe_norms(items)

    def _observe_norms(self, items: list[tuple[Any, torch.Tensor]]) -> None:
        """Keep the tensors; one ``_foreach_norm`` over all of them (a finite norm: no NaN/Inf inside)."""
        items = [(k, t.detach()) for k, t in items if not (t.is_complex() or t.is_sparse) and t.numel()]
        if not items:
            return
        base = len(self._kept)
        self._kept.extend(t for _, t in items)
        for positions, norms in red.group_norms([t for _, t in items]):
            extra = [(items[i][0], base + i) for i in positions]
            self.buffer.add_vector("norms", "norms", norms, extra=extra)

    def _measure_weights(self) -> None:
        with torch.no_grad():
            table = self._param_table()
            if not self.full:
                self._observe_norms([(slot.weights_key, p) for slot, params in table for p in params])
                return
            self._observe_layers([(slot.weights_key, p.detach()) for slot, params in table for p in params])
            self._observe_layers([
                ((slot, Channel.UPDATE), p.detach() - before)
                for slot, pairs in (self._snapshot or {}).items() for p, before in pairs
                if p.shape == before.shape and p.device == before.device])

    def _observe_layers(self, items: list[tuple[Any, torch.Tensor]], layout: red.Layout = _STATS) -> None:
        """Full statistics of parameter-like tensors, one flat tensor per key (a layer's kernel and bias
        reduced together: half the kernel launches, no host-side merging) when small and alike."""
        groups: dict[Any, list[torch.Tensor]] = {}
        for key, t in items:
            groups.setdefault(key, []).append(t)
        for key, ts in groups.items():
            if len(ts) > 1 and sum(t.numel() for t in ts) <= _CAT_LIMIT and all(
                    t.device == ts[0].device and t.dtype == ts[0].dtype and not t.is_sparse for t in ts):
                ts = [torch.cat([t.reshape(-1) for t in ts])]
            for t in ts:
                self._observe(key, t, keep=True, layout=layout)

    # ------------------------------------------------------------------ the step
    def discard_step(self) -> None:
        """Forget what was collected since the last step (e.g. a stray forward at exit)."""
        self._reset()

    def end_step(self, step: int | None = None, epoch: int = 0, loss: float | torch.Tensor | None = None,
                 lr: float | None = None, metrics: Mapping[str, float] | None = None) -> StepRecord | None:
        """Close the step: weights/updates, one host transfer, ``monitor.record``; returns the record.

        ``loss`` overrides the captured loss; returns None (and records nothing) when nothing was observed,
        and None while the step's copy is in flight (a GPU; ``complete_pending`` finishes it). Records of
        clean routine steps reach the monitor in batches (``defer_clean``; ``flush``). A second host transfer
        happens only on a step where a NaN/Inf was seen (exact per-tensor counts).
        """
        if not self.open and loss is None and not metrics:
            return None
        self.complete_pending()  # a step whose copy is still in flight goes first: records stay in order
        self._open()
        self.measure_grads()
        self._measure_weights()
        if isinstance(loss, torch.Tensor):
            self.buffer.add("loss_override", "value", 1, [loss.detach().reshape(()).float()])
        self.step = step if step is not None else self.step + 1
        pending = _Pending(self.buffer, self._kept, self.full, self.step, epoch, loss, lr,
                           dict(metrics or {}))
        self._reset()
        if pending.buffer.start_copy(force_async=self.async_copy):
            # On a GPU the copy runs behind the step's kernels; the step is completed when the next one ends,
            # before the next optimizer update (``complete_pending``), or at exit, never blocking on the GPU.
            self._pending = pending
            return None
        return self._complete(pending)

    def complete_pending(self) -> bool:
        """Complete the step whose host copy is in flight (if any): its record reaches the monitor."""
        pending, self._pending = self._pending, None
        if pending is None:
            return False
        self._complete(pending)
        return True

    def flush(self) -> None:
        """Everything observed so far reaches the monitor (before anything reads it, and at exit)."""
        self.complete_pending()
        self.flush_deferred()

    def _complete(self, p: _Pending) -> StepRecord:
        p.buffer.finish_copy()
        counts = None if p.buffer.finite else self._exact_counts(p.kept)
        record, routine = self._assemble(p, counts)
        if (self.defer_clean and routine and record.all_finite
                and p.step % max(1, int(self.monitor.config.check_every))):
            # A clean step laid out like the one before (no NaN/Inf anywhere, no full statistics, no trend
            # check due) cannot produce a finding: the monitor gets it later, with the next step that can
            # (or within ``_MAX_HOLD_S``), in a batch that runs with warm caches instead of between the
            # training's kernels.
            now = time.monotonic()
            if not self._deferred:
                self._deferred_since = now
            self._deferred.append(record)
            if now - self._deferred_since >= _MAX_HOLD_S:
                self.flush_deferred()
            return record
        self.flush_deferred()
        self._emit(record)
        return record

    def flush_deferred(self) -> None:
        """Hand the held-back records to the monitor in step order (at the next eventful step; at exit)."""
        deferred, self._deferred = self._deferred, []
        for record in deferred:
            self._emit(record)

    def _emit(self, record: StepRecord) -> None:
        if self.before_emit is not None:
            self.before_emit(record)
        self.monitor.record(record)

    @staticmethod
    def _exact_counts(kept: list[torch.Tensor]) -> np.ndarray | None:
        """Exact counts of the kept tensors (a second host copy): only on a step where a fetched number is
        NaN/Inf."""
        if not kept:
            return None
        buf = red.StepBuffer()
        buf.add("counts", "counts", 0, red.exact_counts(kept))
        return buf.fetch()[0][1]

    def _assemble(self, p: _Pending, counts: np.ndarray | None) -> tuple[StepRecord, bool]:
        """The step's record, and whether it reused the last clean cheap step's layout (a routine step)."""
        buffer = p.buffer
        clean = buffer.finite
        # A clean cheap step observed the same tensors as the step before: the same record layout, with every
        # count 0. Reuse it (one array copy) instead of merging entry by entry.
        sig = [(e.key, e.kind, e.numel) for e in buffer.entries] if clean and not p.full else None
        template = self._template
        routine = sig is not None and template is not None and template[0] == sig
        if routine:
            keys, block = template[1], template[2].copy()
            stats = dict(zip(keys, block, strict=True))
        else:
            stats = self._merge([(e, buffer.values(e)) for e in buffer.entries], counts, clean, p.kept)
            if sig is not None:
                keys = list(stats)
                block = np.stack([stats[k] for k in keys]) if keys else np.zeros((0, summary.N_STATS))
                self._template = (sig, keys, block)
        losses: list[float] = []
        override: float | None = None
        correct = counted = 0.0
        for entry in buffer.entries:
            kind = entry.kind
            if kind == "value":
                value = float(buffer.values(entry)[0])
                if entry.key == "loss_override":
                    override = value
                else:
                    losses.append(value)
            elif kind == "ratio":
                vals = buffer.values(entry)
                correct, counted = correct + float(vals[0]), counted + float(vals[1])
        record = StepRecord(step=p.step, epoch=p.epoch, lr=p.lr, metrics=p.metrics)
        if override is not None:
            record.loss = override
        elif p.loss is not None and not isinstance(p.loss, torch.Tensor):
            record.loss = float(p.loss)
        elif losses:
            record.loss = losses[0] if len(losses) == 1 else float(np.mean(losses))
        if counted > 0 and "accuracy" not in record.metrics:
            record.metrics["accuracy"] = correct / counted
        record.data = stats.pop("data", None)
        record.target = stats.pop("target", None)
        record.stats = stats
        record.all_finite = clean and all(
            v is None or math.isfinite(v) for v in (record.loss, *record.metrics.values()))
        return record, routine

    @staticmethod
    def _merge(fetched: list[tuple[red.Entry, np.ndarray]], counts: np.ndarray | None, clean: bool,
               kept_tensors: list[torch.Tensor]) -> dict[Any, np.ndarray]:
        """One summary vector per record key ((layer index, channel), "data", "target") from the entries."""
        plain: dict[Any, list[float]] = {}  # per key [numel, count] of flag-only observations
        vectors: dict[Any, list[np.ndarray]] = {}  # per key the full vectors
        for entry, vals in fetched:
            kind = entry.kind
            if kind == "flag":
                count = 0.0 if clean else _count(entry, vals, counts)
                acc = plain.get(entry.key)
                if acc is None:
                    plain[entry.key] = [entry.numel, count]
                else:
                    acc[0] += entry.numel
                    acc[1] += count
            elif kind == "full":
                vec = _vector(entry, _count(entry, vals, counts), vals)
                vectors.setdefault(entry.key, []).append(vec)
            elif kind == "norms":
                for (key, kept), norm in zip(entry.extra, vals, strict=True):
                    bad = not clean and not np.isfinite(norm)
                    count = (1.0 if counts is None else max(float(counts[kept]), 1.0)) if bad else 0.0
                    acc = plain.get(key)
                    numel = kept_tensors[kept].numel()
                    if acc is None:
                        plain[key] = [numel, count]
                    else:
                        acc[0] += numel
                        acc[1] += count
        merged = red.summaries_from_counts(plain)
        for key, vecs in vectors.items():
            if key in merged:
                vecs.append(merged[key])
            merged[key] = vecs[0] if len(vecs) == 1 else summary.combine(vecs)
        out: dict[Any, np.ndarray] = {}
        for key, vec in merged.items():
            if key in ("data", "target"):
                out[key] = vec
            elif key[0].index is not None:
                out[(key[0].index, key[1])] = vec
        return out


def _count(entry: red.Entry, flags: np.ndarray, counts: np.ndarray | None) -> float:
    """Non-finite count of an observation: 0 when its flags are finite; else exact when the tensor was kept,
    else 1 (a lower bound: activations and output gradients are not held, see the module docstring; and a
    kept gradient zeroed in place before a delayed count)."""
    if np.isfinite(flags).all():
        return 0.0
    kept = entry.extra[0] if entry.extra else -1
    return max(float(counts[kept]), 1.0) if kept >= 0 and counts is not None else 1.0


@dataclasses.dataclass(slots=True)
class _Pending:
    """One step's observations until its host copy is done: the buffer, the tensors kept for exact counts."""

    buffer: red.StepBuffer
    kept: list[torch.Tensor]
    full: bool
    step: int
    epoch: int
    loss: Any
    lr: float | None
    metrics: dict[str, float]


def _vector(entry: red.Entry, count: float, vals: np.ndarray) -> np.ndarray:
    _, units, has_band, layout = entry.extra
    vec = red.summary_from_stats(entry.numel, count, vals, layout)
    if vec[summary.NONFINITE] == 0 and entry.numel:
        pos = layout.width
        if units is not None:
            vec[summary.DEAD_FRAC] = float(vals[pos]) / units if units else np.nan
            pos += 1
        if has_band:
            vec[summary.SAT_FRAC] = float(vals[pos]) / entry.numel
    return vec
