"""TorchCollector: per-layer statistics of torch modules, one StepRecord per training step.

Reusable by any driver that can tell where a step ends: the PyTorch session (optimizer-step hooks) and the
Keras probe under the torch backend (Keras layers are torch modules; the callback ends the step).

Cost model (docs/performance.md): every step, a one-pass finiteness flag per output / output gradient /
batch (none for pass-through layers, which reuse their input's; a layer output feeding pass-through layers
is flagged where that chain ends; an input made from flagged tensors by finite-preserving ops takes their
flags; the output gradient of a layer whose bias gradient sums it is read from that), one fused norm over
all parameter gradients and all parameters, one host copy (on a GPU it runs behind the kernels and the step is
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
from torch._utils import _flatten_dense_tensors

from deeplocalize import summary
from deeplocalize.model import LayerInfo
from deeplocalize.monitor import Monitor
from deeplocalize.probes import torch_reduce as red
from deeplocalize.probes.torch_facts import (
    FINITE_PRESERVING_NODES,
    RELU_FAMILY,
    activation_of,
    default_unit_axis,
    is_pass_through,
    output_grad_in_params,
)
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Channel

_MAX_DEPTH = 4
#: What a full-statistics step computes per channel (each statistic is a pass over the tensor): only what the
#: detectors and reports read. Output gradients: their norm and mean (NaN localization, gradient plots);
#: weight gradients also their zero fraction (recurrent layers cut off from earlier time steps).
_STATS = red.Layout()
_RELU_STATS = red.Layout(zeros=True)  # ReLU-family outputs: also the share of zeros (reports, baselines)
_NONNEGATIVE_STATS = red.Layout(zeros=True, nonnegative=True)  # nn.ReLU, nn.ReLU6: no negative values
_GRAD_STATS = red.Layout(extremes=False)
_WEIGHT_GRAD_STATS = red.Layout(zeros=True)
_UNKNOWN = object()
#: Held-back records reach the monitor at least this often (seconds), so slow steps are not shown late.
_MAX_HOLD_S = 1.0
#: Parameters of one layer up to this many elements are concatenated before reduction (full steps).
_CAT_LIMIT = 1 << 22
#: A flag position meaning "non-finite iff the layer's parameter gradients are" (``output_grad_in_params``).
FROM_PARAM_GRADS = -2
#: How many finite-preserving autograd nodes deep a tensor's flag may be derived from known flags.
_GRAPH_DEPTH = 4


class LayerSlot:
    """One observed layer: its module, name, forward-order index (None until its first training call)."""

    __slots__ = (
        "__weakref__",
        "activation",
        "chain_flag",
        "explicit_params",
        "grad_hook",
        "grad_in_params",
        "in_pos",
        "index",
        "input_key",
        "is_root",
        "module",
        "name",
        "output_grad_key",
        "output_key",
        "output_shape",
        "pass_through",
        "ready",
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
        #: where the finiteness flag of this call's single input tensor is in the step's buffer (-1: an
        #: integer tensor; None: unknown), set by forward_pre
        self.in_pos: red.FlagPos | None = None
        self.ready = False  # indexed and its output shape known: cheap steps take the short path
        self.input_key = (self, Channel.INPUT)
        self.output_key = (self, Channel.OUTPUT)
        self.output_grad_key = (self, Channel.OUTPUT_GRAD)
        self.weight_grad_key = (self, Channel.WEIGHT_GRAD)
        self.weights_key = (self, Channel.WEIGHTS)
        self.grad_hook: Callable[[torch.Tensor], None] | None = None  # set by the collector
        #: on cheap steps, the output gradient's finiteness is read from the parameter gradients (no hook);
        #: set when the parameter table is read
        self.grad_in_params = False
        #: on cheap steps its output goes straight into pass-through layers (learned on an earlier step):
        #: its flag is taken at the end of that chain (``TorchCollector._end_chain``)
        self.chain_flag = False

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
        self._norm_plan = _NormPlan([])
        #: the last clean cheap step's layout and record rows
        self._template: _Layout | None = None
        #: hold back the records of clean, routine steps and hand them to the monitor in a batch (see
        #: ``end_step``); the Keras path, which reads each record at once, leaves it off
        self.defer_clean = False
        self._deferred: list[_Pending] = []
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
        #: full steps: id(tensor) -> (weakref, version, flag position, producing layer), so that inputs reuse
        #: their producer's flag; cheap steps keep only the latest output (``_last``): a chain of layers
        #: hands each output to the next, and anything else is summed again (correct, one pass more)
        self._seen: dict[int, tuple[weakref.ref, int, red.FlagPos, LayerSlot | None]] = {}
        self._last: tuple[torch.Tensor, int, red.FlagPos, LayerSlot | None] | None = None
        #: autograd node -> flag position of what it made (the layer outputs of this step): a tensor made
        #: from them by finite-preserving ops takes their flags (``_graph_pos``)
        self._nodes: dict[Any, red.FlagPos] = {}
        #: an output whose flag is taken where its chain of pass-through layers ends:
        #: [tensor now carrying it, its version, reserved flag position, producing layer, moved past it]
        self._chain: list[Any] | None = None
        #: an output flagged at once, watched to learn whether a pass-through layer takes it next
        self._trial: tuple[torch.Tensor, int, LayerSlot] | None = None

    def _open(self) -> None:
        if not self.open:
            self.open = True
            self.full = self.step % max(1, int(self.monitor.config.stats_every)) == 0

    @staticmethod
    def should_record(module: nn.Module | None = None) -> bool:
        """Is this forward part of a training step? (grad mode on and the module in training mode)."""
        return torch.is_grad_enabled() and (module is None or module.training)

    # ------------------------------------------------------------------ observations
    def _flag_pos(self, t: torch.Tensor) -> red.FlagPos:
        """Position of a tensor's finiteness flag: the one of an identical already-seen tensor, else derived
        from the flags of what it was made of (``_graph_pos``), else a new flag (one pass)."""
        last = self._last
        if last is not None and last[0] is t and last[1] == t._version:
            return last[2]
        hit = self._seen.get(id(t))
        if hit is not None and hit[0]() is t and hit[1] == t._version:
            return hit[2]
        fn = t.grad_fn
        if fn is not None and self._nodes:
            pos = self._graph_pos(fn, 0)
            if pos is not None:
                return pos
        return self.buffer.new_flag(t)

    def _graph_pos(self, fn: Any, depth: int) -> red.FlagPos | None:
        """The flags a tensor made by autograd node ``fn`` is finite with: a layer output's own, or, through
        up to ``_GRAPH_DEPTH`` finite-preserving nodes (``FINITE_PRESERVING_NODES``), those of every input;
        None when an input is unknown (a constant, a parameter, an untracked tensor)."""
        known = self._nodes.get(fn)
        if known is not None:
            return known
        if depth >= _GRAPH_DEPTH or type(fn).__name__ not in FINITE_PRESERVING_NODES:
            return None
        parts = []
        for node, _ in fn.next_functions:
            pos = None if node is None else self._graph_pos(node, depth + 1)
            if pos is None:
                return None
            parts.append(pos)
        return red.union_pos(parts) if parts else None

    def _note_node(self, t: torch.Tensor, pos: red.FlagPos) -> None:
        """Remember which flag the tensor's autograd node made (a node with several outputs: all of them)."""
        fn = t.grad_fn
        if fn is not None:
            old = self._nodes.get(fn)
            self._nodes[fn] = pos if old is None or old == pos else red.union_pos((old, pos))

    def _interrupt(self) -> None:
        """Anything but the next layer's forward happens: a pending chain's flag is taken now."""
        self._trial = None
        if self._chain is not None:
            self._end_chain()

    def _follow(self, slot: LayerSlot, t: torch.Tensor) -> None:
        """A layer's forward starts on ``t``: a chain goes on through a pass-through layer taking its tensor
        as it is, else it ends; a watched output learns whether such a layer took it."""
        chain = self._chain
        watched = chain[0] if chain is not None else self._trial[0] if self._trial is not None else None
        carried = slot.pass_through and watched is t
        if chain is not None and not (carried and chain[1] == t._version):
            self._end_chain()
        trial, self._trial = self._trial, None
        if trial is not None:
            trial[2].chain_flag = carried and trial[1] == t._version and t.is_floating_point()

    def _end_chain(self) -> None:
        """Take the pending flag on the chain's last tensor. Pass-through layers carry a NaN or +Inf on, and
        what they can drop (a -Inf through a ReLU, an Inf through a saturating activation, values a pooling
        window skips) reaches neither the loss nor the gradients; the chain's last tensor is often far
        smaller (pooling). A chain that did not start (no pass-through layer took the output as it was)
        stops its producer from chaining again."""
        chain, self._chain = self._chain, None
        t, version, pos, producer, moved = chain
        self.buffer.scalars[pos] = red.finite_flag(t)
        if not moved or t._version != version:  # changed in place since: flagged as it is, not chained again
            producer.chain_flag = False
        self._note_node(t, pos)

    def _remember(self, t: torch.Tensor, pos: red.FlagPos, slot: LayerSlot | None) -> None:
        with contextlib.suppress(TypeError, RuntimeError):  # tensors without weakref/version support
            self._last = (t, t._version, pos, slot)
            self._seen[id(t)] = (weakref.ref(t), t._version, pos, slot)
            self._note_node(t, pos)

    def _observe(self, key: Any, t: torch.Tensor, slot: LayerSlot | None = None,
                 units_axis: int | None = None, band: tuple[float, float] | None = None,
                 keep: bool = False, layout: red.Layout = _STATS, remember: bool = False) -> None:
        """Reduce ``t`` on its device: a finiteness flag, or full statistics on full steps.

        ``keep``: hold a reference (parameters, gradients, updates) for an exact count on a faulty step.
        ``remember`` (or a ``slot``): later inputs that are this very tensor reuse its flag.
        """
        if t.is_complex() or t.is_sparse:
            return
        buffer = self.buffer
        numel = t.numel()
        if numel == 0:
            buffer.flags.append((key, 0, -1))
            return
        if not self.full and not keep:
            pos = buffer.new_flag(t)
            buffer.flags.append((key, numel, pos))
            if remember or slot is not None:
                self._remember(t, pos, slot)
            return
        kept = -1
        if keep:
            kept = len(self._kept)
            self._kept.append(t)
        if not self.full:
            flag = red.finite_flag(t)
            buffer.add(key, "flag", numel, () if flag is None else (flag,), extra=(kept, None, False))
            return
        scalars = red.stat_scalars(t, layout)
        units = None
        if units_axis is not None and t.dim() >= 1:
            units = t.shape[units_axis] if t.dim() >= 2 else numel
            scalars.append(red.dead_units(t, units_axis))
        if band is not None:
            scalars.append(red.saturated_count(t, band))
        pos = len(buffer.scalars) + 2 * layout.extremes if t.is_floating_point() else -1
        buffer.add(key, "full", numel, scalars, extra=(kept, units, band is not None, layout))
        if remember or slot is not None:
            self._remember(t, pos, slot)

    def forward_pre(self, slot: LayerSlot, args: Any) -> None:
        """Before a layer's forward: finiteness of its inputs (reused from their producer)."""
        if not (torch.is_grad_enabled() and slot.module.training):
            return
        if not self.open:
            self._open()
        slot.in_pos = None
        flags = self.buffer.flags
        if len(args) == 1 and isinstance(args[0], torch.Tensor):  # the common case, kept short
            t = args[0]
            if self._chain is not None or self._trial is not None:
                self._follow(slot, t)
            if not (t.is_complex() or t.is_sparse):
                pos = slot.in_pos = self._flag_pos(t)
                flags.append((slot.input_key, t.numel(), pos))
            return
        self._interrupt()
        for t in iter_tensors(args):
            if not (t.is_complex() or t.is_sparse):
                flags.append((slot.input_key, t.numel(), self._flag_pos(t)))

    def forward_post(self, slot: LayerSlot, args: Any, output: Any) -> None:
        """After a layer's forward: index on first call, OUTPUT (kept; reduced on full steps), grad hooks."""
        if not (torch.is_grad_enabled() and slot.module.training):
            return
        if not self.open:
            self._open()
        self.activity = True
        if slot.ready and not self.full:
            tensors = _dense_outputs(output)
            if tensors is not None:
                self._cheap_outputs(slot, tensors)
                return
        self._interrupt()
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
        slot.ready = slot.output_shape is not None
        if slot.pass_through and not self.full and slot.in_pos is not None:
            pos, key = slot.in_pos, slot.output_key
            for t in tensors:
                self.buffer.flags.append((key, t.numel(), pos))
                self._remember(t, pos, slot)
            return
        relu = slot.activation in RELU_FAMILY
        dead_axis = slot.unit_axis if self.full and relu else None
        band = summary.SATURATION_BANDS.get(slot.activation or "") if self.full else None
        layout = _STATS
        if relu:
            layout = _NONNEGATIVE_STATS if type(slot.module) in (nn.ReLU, nn.ReLU6) else _RELU_STATS
        key, hook = slot.output_key, slot.grad_hook
        for t in tensors:
            fits = dead_axis is not None and t.dim() > (dead_axis % max(t.dim(), 1))
            self._observe(key, t, slot, dead_axis if fits else None, band, layout=layout)
            if t.requires_grad and not slot.pass_through:  # their gradients cannot start a NaN either
                t.register_hook(hook)

    def _cheap_outputs(self, slot: LayerSlot, tensors: Sequence[torch.Tensor]) -> None:
        """The every-step path, kept short: these hooks run between the training's kernels, where every line
        of Python costs several times what it costs in a loop."""
        buffer, key = self.buffer, slot.output_key
        single = len(tensors) == 1
        for t in tensors:
            chained = False
            if slot.pass_through and slot.in_pos is not None:
                # finite input -> finite output, forward and backward: reuse the input's flag (its gradient
                # is not observed on any step)
                pos = slot.in_pos
                chain = self._chain
                if chain is not None and single and chain[2] == pos:  # the chain goes on with this output
                    chain[0], chain[1], chain[4] = t, t._version, True
                    chained = True
            else:
                if slot.chain_flag and single and t.is_floating_point():  # flagged where the chain ends
                    pos = buffer.reserve()
                    self._chain = [t, t._version, pos, slot, False]
                    chained = True
                else:
                    pos = buffer.new_flag(t)
                    if single:
                        self._trial = (t, t._version, slot)
                if t.requires_grad and not slot.pass_through:
                    if slot.grad_in_params:  # its bias gradient sums this gradient: no pass of our own
                        buffer.flags.append((slot.output_grad_key, t.numel(), FROM_PARAM_GRADS))
                    else:
                        t.register_hook(slot.grad_hook)
            buffer.flags.append((key, t.numel(), pos))
            self._last = (t, t._version, pos, slot)
            if not chained:  # a chain's tensors stand for its flag only once it ends (``_end_chain``)
                self._note_node(t, pos)

    def _unit_axis(self, slot: LayerSlot, args: Any, out: torch.Tensor) -> int | None:
        """Feature axis of the output: conv 1, linear last; elementwise layers inherit their producer's."""
        if slot.activation not in (None, "linear") or type(slot.module).__name__ in ("Dropout", "Identity"):
            for t in iter_tensors(args):
                hit = self._seen.get(id(t))
                producer = hit[3] if hit is not None and hit[0]() is t else None
                if producer is None and self._last is not None and self._last[0] is t:
                    producer = self._last[3]
                if producer is not None and producer.unit_axis is not None and t.dim() == out.dim():
                    return producer.unit_axis
                break
        return default_unit_axis(slot.module, out.dim())

    def _grad_hook(self, slot: LayerSlot) -> Callable[[torch.Tensor], None]:
        key = slot.output_grad_key

        def hook(grad: torch.Tensor | None) -> None:
            if grad is None:  # an output the loss does not depend on (cuDNN's LSTM passes None for h, c)
                return
            try:
                if not self.open:
                    self._open()
                if self._chain is not None or self._trial is not None:
                    self._interrupt()
                if self.full or grad.is_complex() or grad.is_sparse:
                    self._observe(key, grad, layout=_GRAD_STATS)
                else:  # the every-step path, kept short (see forward_post)
                    buffer = self.buffer
                    buffer.flags.append((key, grad.numel(), buffer.new_flag(grad)))
            except Exception as exc:
                self.monitor.tool_error("torch probe gradient hook", exc)
        return hook

    def observe_data(self, x: Any) -> None:
        """The input batch of the model (first tensor found) -> ``record.data``."""
        self._interrupt()
        for t in iter_tensors(x):
            self._open()
            self.activity = True
            self._observe("data", t, remember=True)  # the first layer's input reuses the flag
            return

    def observe_target(self, y: Any) -> None:
        """The labels given to the loss -> ``record.target``."""
        self._interrupt()
        if isinstance(y, torch.Tensor):
            self._open()
            self._observe("target", y)

    def observe_loss(self, loss: torch.Tensor) -> None:
        """The loss tensor (on which backward is called); several per step are averaged."""
        self._interrupt()
        if isinstance(loss, torch.Tensor) and loss.numel() == 1 and not loss.is_complex():
            self._open()
            value = loss.detach()
            self.buffer.add("loss", "value", 1, [(value if value.dim() == 0 else value.reshape(())).clone()])

    def observe_accuracy(self, correct: torch.Tensor, counted: torch.Tensor) -> None:
        """Correct predictions and counted samples of one loss call (device scalars)."""
        self._interrupt()
        self._open()
        self.buffer.add("accuracy", "ratio", 1, [correct, counted])

    # ------------------------------------------------------------------ parameters
    def _param_table(self) -> list[tuple[LayerSlot, list[torch.Tensor]]]:
        """(layer, parameters) in forward order; cached, refreshed on full steps and when layers change."""
        if self._params is None or self.full:
            self._params = [(slot, slot.params()) for slot in self.ordered()]
            self._norm_plan = _NormPlan(self._params)
            for slot, params in self._params:
                slot.grad_in_params = output_grad_in_params(slot.module, params)
        return self._params

    def snapshot_params(self) -> None:
        """Before the update: copy trainable parameters (full-statistics steps only), for UPDATE."""
        self._open()
        if not self.full or self._snapshot is not None:
            return
        with torch.no_grad():  # a clone under no_grad needs no detach (one op per parameter less)
            self._snapshot = {
                slot: [(p, p.clone()) for p in params if p.requires_grad]
                for slot, params in self._param_table()
            }

    def measure_grads(self) -> None:
        """Parameter gradients, once per step: full statistics, or one fused norm per device and dtype."""
        if self._grads_done:
            return
        self._interrupt()
        self._open()
        self._grads_done = True
        items = self._grad_items()
        if not items:
            return
        if self.full:
            self._observe_layers(items, _WEIGHT_GRAD_STATS)
        else:
            self._observe_norms(items)

    def _grad_items(self) -> list[tuple[Any, torch.Tensor]]:
        items: list[tuple[Any, torch.Tensor]] = []
        for slot, params in self._param_table():
            key = slot.weight_grad_key
            for p in params:
                grad = p.grad
                if grad is not None:
                    items.append((key, grad.coalesce().values() if grad.is_sparse else grad))
        return items

    def _observe_norms(self, items: list[tuple[Any, torch.Tensor]]) -> None:
        """Keep the tensors; one ``_foreach_norm`` over all of them (a finite norm: no NaN/Inf inside)."""
        items = [(k, t.detach()) for k, t in items if not (t.is_complex() or t.is_sparse) and t.numel()]
        if not items:
            return
        base = len(self._kept)
        self._kept.extend(t for _, t in items)
        for positions, norms in red.group_norms([t for _, t in items]):
            extra = [(items[i][0], base + i) for i in positions]
            self.buffer.add("norms", "norms", len(norms), norms, extra=extra)

    def _measure_params(self) -> None:
        """Weights (and updates) at the step's end; on a cheap step, with the gradients if not measured yet,
        all in one fused norm."""
        self._interrupt()
        with torch.no_grad():
            table = self._param_table()
            if not self.full:
                self._cheap_norms()
                return
            self.measure_grads()
            self._observe_layers([(slot.weights_key, p) for slot, params in table for p in params])
            moved = [((slot, Channel.UPDATE), p, before) for slot, pairs in (self._snapshot or {}).items()
                     for p, before in pairs if p.shape == before.shape and p.device == before.device]
            if moved:  # every update in one op
                updates = torch._foreach_sub([p for _, p, _ in moved], [before for _, _, before in moved])
                self._observe_layers([(key, u) for (key, _, _), u in zip(moved, updates, strict=True)])

    def _cheap_norms(self) -> None:
        """Every step: one fused norm over the gradients (unless measured already) and the weights."""
        plan = self._norm_plan
        keys: list[Any] = []
        tensors: list[torch.Tensor] = []
        if not self._grads_done:
            self._grads_done = True
            for p, key in plan.grads:
                grad = p.grad
                if grad is not None:
                    keys.append(key)
                    tensors.append(grad.coalesce().values() if grad.is_sparse else grad)
        keys += plan.weight_keys
        tensors += plan.weights
        if not tensors:
            return
        norms = None
        if plan.uniform:
            with contextlib.suppress(RuntimeError):  # moved to other devices since the plan was made
                norms = torch._foreach_norm(tensors)
        if norms is None:
            self._observe_norms(list(zip(keys, tensors, strict=True)))
            return
        base = len(self._kept)
        self._kept.extend(tensors)
        self.buffer.add("norms", "norms", len(norms), norms,
                        extra=list(zip(keys, range(base, base + len(keys)), strict=True)))

    def _observe_layers(self, items: list[tuple[Any, torch.Tensor]], layout: red.Layout = _STATS) -> None:
        """Full statistics of parameter-like tensors, one flat tensor per key (a layer's kernel and bias
        reduced together: half the kernel launches, no host-side merging) when small and alike."""
        groups: dict[Any, list[torch.Tensor]] = {}
        for key, t in items:
            groups.setdefault(key, []).append(t)
        for key, ts in groups.items():
            if len(ts) > 1 and sum(t.numel() for t in ts) <= _CAT_LIMIT and all(
                    t.device == ts[0].device and t.dtype == ts[0].dtype and not t.is_sparse for t in ts):
                ts = [_flatten_dense_tensors(ts)]  # one call: flattened and concatenated
            for t in ts:
                self._observe(key, t, keep=True, layout=layout)

    # ------------------------------------------------------------------ the step
    def discard_step(self) -> None:
        """Forget what was collected since the last step (e.g. a stray forward at exit)."""
        self._reset()

    def end_step(self, step: int | None = None, epoch: int = 0, loss: float | torch.Tensor | None = None,
                 lr: float | None = None, metrics: Mapping[str, float] | None = None) -> StepRecord | None:
        """Close the step: weights/updates, one host transfer, ``monitor.record``; returns the record.

        ``loss`` overrides the captured loss; returns None (and records nothing) when nothing was observed.
        Also None while the step's copy is in flight (a GPU; ``complete_pending`` finishes it), and for a
        clean routine step held back (``defer_clean``; it reaches the monitor with the next step that can
        produce a finding, or ``flush``). A second host transfer happens only on a step where a NaN/Inf
        was seen (exact per-tensor counts).
        """
        if not self.open and loss is None and not metrics:
            return None
        self.complete_pending()  # a step whose copy is still in flight goes first: records stay in order
        self._open()
        self._measure_params()
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

    def _complete(self, p: _Pending) -> StepRecord | None:
        p.buffer.finish_copy()
        if self.defer_clean and self._routine(p):
            # A clean step laid out like the one before (no NaN/Inf anywhere, no full statistics, no trend
            # check due) cannot produce a finding: it is held back and handed to the monitor with the next
            # step that can (or within ``_MAX_HOLD_S``), in a batch that runs with warm caches instead of
            # between the training's kernels.
            p.kept = []  # finite: no exact count will be needed
            now = time.monotonic()
            if not self._deferred:
                self._deferred_since = now
            self._deferred.append(p)
            if now - self._deferred_since >= _MAX_HOLD_S:
                self.flush_deferred()
            return None
        self.flush_deferred()
        record = self._record(p)
        self._emit(record)
        return record

    def _routine(self, p: _Pending) -> bool:
        """Clean, cheap, no trend check due, and laid out like the last clean cheap step."""
        template = self._template
        return (p.buffer.finite and not p.full and template is not None
                and bool(p.step % max(1, int(self.monitor.config.check_every)))
                and template.fits(p.buffer) and _finite_extras(p))

    def flush_deferred(self) -> None:
        """Hand the held-back records to the monitor in step order (at the next eventful step; at exit)."""
        deferred, self._deferred = self._deferred, []
        for p in deferred:
            self._emit(self._record(p))

    def _emit(self, record: StepRecord) -> None:
        if self.before_emit is not None:
            self.before_emit(record)
        self.monitor.record(record)

    def _record(self, p: _Pending) -> StepRecord:
        counts = None if p.buffer.finite else self._exact_counts(p.kept)
        return self._assemble(p, counts)

    @staticmethod
    def _exact_counts(kept: list[torch.Tensor]) -> np.ndarray | None:
        """Exact counts of the kept tensors (a second host copy): only on a step where a fetched number is
        NaN/Inf."""
        if not kept:
            return None
        buf = red.StepBuffer()
        buf.add("counts", "counts", 0, red.exact_counts(kept))
        return buf.fetch()[0][1]

    def _assemble(self, p: _Pending, counts: np.ndarray | None) -> StepRecord:
        """The step's record (a clean cheap step laid out like the last one reuses its rows)."""
        buffer = p.buffer
        clean = buffer.finite
        template = self._template
        if clean and not p.full and template is not None and template.fits(buffer):
            # Same tensors observed as the last clean cheap step, every count 0: one array copy.
            stats = dict(zip(template.keys, template.block.copy(), strict=True))
        else:
            stats = self._merge(buffer, counts, clean, p.kept)
            if clean and not p.full:
                keys = list(stats)
                block = np.stack([stats[k] for k in keys]) if keys else np.zeros((0, summary.N_STATS))
                self._template = _Layout(buffer.flags, buffer.entries, keys, block)
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
        return record

    @staticmethod
    def _merge(buffer: red.StepBuffer, counts: np.ndarray | None, clean: bool,
               kept_tensors: list[torch.Tensor]) -> dict[Any, np.ndarray]:
        """One summary vector per record key ((layer index, channel), "data", "target") from the step."""
        plain: dict[Any, list[float]] = {}  # per key [numel, count] of flag-only observations

        def add_plain(key: Any, numel: float, count: float) -> None:
            acc = plain.get(key)
            if acc is None:
                plain[key] = [numel, count]
            else:
                acc[0] += numel
                acc[1] += count

        derived: list[tuple[Any, int]] = []  # output gradients read from the parameter gradients
        for key, numel, pos in buffer.flags:  # an activation's flag is not held: a count of 1, a lower bound
            if pos == FROM_PARAM_GRADS:
                derived.append((key, numel))
            else:
                add_plain(key, numel, 0.0 if clean or buffer.flag_finite(pos) else 1.0)
        vectors: dict[Any, list[np.ndarray]] = {}  # per key the full vectors
        for entry in buffer.entries:
            kind = entry.kind
            if kind == "flag":
                add_plain(entry.key, entry.numel,
                          0.0 if clean else _count(entry, buffer.values(entry), counts))
            elif kind == "full":
                vals = buffer.values(entry)
                vectors.setdefault(entry.key, []).append(_vector(entry, _count(entry, vals, counts), vals))
            elif kind == "norms":
                for (key, kept), norm in zip(entry.extra, buffer.values(entry), strict=True):
                    bad = not clean and not np.isfinite(norm)
                    count = (1.0 if counts is None else max(float(counts[kept]), 1.0)) if bad else 0.0
                    add_plain(key, kept_tensors[kept].numel(), count)
        for key, numel in derived:  # none when the gradients were not measured (e.g. not reached by the loss)
            grads = plain.get((key[0], Channel.WEIGHT_GRAD))
            if grads is not None:
                add_plain(key, numel, 1.0 if grads[1] else 0.0)
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


def _dense_outputs(output: Any) -> Sequence[torch.Tensor] | None:
    """A layer's output tensors when it is one dense real tensor or a tuple of them (None entries skipped,
    e.g. attention weights not asked for); None for anything else (the general path handles it)."""
    if isinstance(output, torch.Tensor):
        return (output,) if not (output.is_complex() or output.is_sparse) else None
    if type(output) is not tuple:
        return None
    tensors = [t for t in output if t is not None]
    dense = all(isinstance(t, torch.Tensor) and not (t.is_complex() or t.is_sparse) for t in tensors)
    return tensors if dense else None


def _count(entry: red.Entry, flags: np.ndarray, counts: np.ndarray | None) -> float:
    """Non-finite count of an observation: 0 when its flags are finite; else exact when the tensor was kept,
    else 1 (a lower bound: activations and output gradients are not held, see the module docstring; and a
    kept gradient zeroed in place before a delayed count)."""
    if np.isfinite(flags).all():
        return 0.0
    kept = entry.extra[0] if entry.extra else -1
    return max(float(counts[kept]), 1.0) if kept >= 0 and counts is not None else 1.0


def _finite_extras(p: _Pending) -> bool:
    """The loss and metrics handed to ``end_step`` (not measured on the device) are finite."""
    values = [*p.metrics.values()]
    if p.loss is not None and not isinstance(p.loss, torch.Tensor):
        values.append(p.loss)
    return all(v is None or math.isfinite(v) for v in values)


class _NormPlan:
    """What a cheap step's fused norm covers, worked out when the parameter table is (re)read: each real,
    dense, non-empty parameter (its weights key, and its gradient's), and whether they all share one device
    and a float32/float64 dtype (one ``_foreach_norm``; else grouped by ``group_norms``)."""

    __slots__ = ("grads", "uniform", "weight_keys", "weights")

    def __init__(self, table: Sequence[tuple[LayerSlot, list[torch.Tensor]]]) -> None:
        kept = [(slot, p) for slot, params in table for p in params
                if not (p.is_complex() or p.is_sparse) and p.numel()]
        self.weights = [p for _, p in kept]  # the parameters themselves: a later ``p.data = ...`` is followed
        self.weight_keys = [slot.weights_key for slot, _ in kept]
        self.grads = [(p, slot.weight_grad_key) for slot, p in kept]
        self.uniform = len({(p.device, p.dtype) for p in self.weights}) <= 1 and all(
            p.dtype in (torch.float32, torch.float64) for p in self.weights)


@dataclasses.dataclass(slots=True)
class _Layout:
    """The layout of the last clean cheap step: what it observed, and its record's rows (every count 0)."""

    flags: list[tuple[Any, int, red.FlagPos]]
    entries: list[red.Entry]
    keys: list[Any]
    block: np.ndarray

    def fits(self, buffer: red.StepBuffer) -> bool:
        """Did ``buffer`` observe the same tensors (same keys, sizes, flag sharing)?"""
        return self.flags == buffer.flags and self.entries == buffer.entries


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
