"""Per-layer hooks, attached for one step only: a statistics step, a replay, or the per-layer flags that
follow a NaN the replay could not reproduce. Ordinary steps run with none.

``LayerObserver.attach`` registers a forward pre-hook and a forward hook on every layer of a
``LayerTable``; the forward hook registers a gradient hook on each output tensor. What they record goes
into the step's ``StepBuffer`` under ``(slot, channel)`` keys, as ``Mode`` says:
- ``FLAGS``: one finiteness flag (a sum) per tensor: NaN/Inf latency at the layer, cheapest;
- ``STATS``: the full statistics the detectors read (``torch_reduce.Layout``), inputs as flags, and each
  attention call's per-head entropy (``torch_attention``) under the layer that runs it, or else the layer
  that ran last before it (the query/key projection of a module without weights of its own);
- ``EXACT``: exact non-finite counts of every input, output and output gradient (a replay).
The hooks never change a tensor; their errors go to ``on_error`` and never reach training.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, is_dataclass
from dataclasses import fields as dataclass_fields
from typing import Any

import torch
from torch import nn

from deeplocalize import summary
from deeplocalize.probes import torch_attention as attention
from deeplocalize.probes import torch_reduce as red
from deeplocalize.probes.torch_facts import RELU_FAMILY, default_unit_axis
from deeplocalize.probes.torch_layers import LayerSlot, LayerTable
from deeplocalize.vocabulary import Channel

_MAX_DEPTH = 4
#: A layer's facts are sent again when its attention's next-key weight rose by this much since last sent.
NEXT_KEY_WEIGHT_STEP = 0.05
_STATS = red.Layout()
_RELU_STATS = red.Layout(zeros=True)  # ReLU-family outputs: also the share of zeros (reports, baselines)
_NONNEGATIVE_STATS = red.Layout(zeros=True, nonnegative=True)  # nn.ReLU, nn.ReLU6 outputs: never negative
_GRAD_STATS = red.Layout(extremes=False)  # output gradients: norm and mean


class Mode(enum.Enum):
    FLAGS = "flags"
    STATS = "stats"
    EXACT = "exact"


def first_input(inputs: Any) -> torch.Tensor | None:
    """A model's first dense input tensor (token ids too): the one whose facts and statistics are the
    data's. Sparse inputs (a graph's adjacency, bag-of-words features) are passed over: their statistics
    would need their implicit zeros."""
    return next((t for t in iter_tensors(inputs) if t.layout == torch.strided), None)


def iter_tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Tensors in an input/output: tensors, tuples, lists, dicts, dataclasses (HF outputs); the rest is
    ignored."""
    return iter_instances(obj, torch.Tensor)


def iter_instances(obj: Any, kind: type | tuple[type, ...], depth: int = 0) -> Iterator[Any]:
    """Instances of ``kind`` in an input/output, walked as ``iter_tensors`` walks it (a Keras model's
    ``KerasTensor`` inputs, say)."""
    if isinstance(obj, kind):
        yield obj
    elif depth >= _MAX_DEPTH:
        return
    elif isinstance(obj, list | tuple):
        for item in obj:
            yield from iter_instances(item, kind, depth + 1)
    elif isinstance(obj, Mapping):
        for item in obj.values():
            yield from iter_instances(item, kind, depth + 1)
    elif is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclass_fields(obj):
            yield from iter_instances(getattr(obj, f.name, None), kind, depth + 1)


def made_from(t: torch.Tensor, outputs: Mapping[Any, Any], depth: int) -> Any:
    """The value ``outputs`` holds for the autograd node of ``t``, or of the nearest node at most ``depth``
    steps back in its graph (breadth first); None when there is none."""
    frontier, seen = [t.grad_fn], set()
    for _ in range(depth):
        nxt = []
        for node in frontier:
            found = outputs.get(node)
            if found is not None:
                return found
            for child, _ in getattr(node, "next_functions", ()):
                if child is not None and child not in seen:
                    seen.add(child)
                    nxt.append(child)
        frontier = nxt
    return None


def observable(t: torch.Tensor) -> bool:
    return not (t.is_complex() or t.is_sparse or t.device.type == "meta")


@dataclass(slots=True)
class Observation:
    """How one tensor was reduced: where its numbers are, and what they are."""

    key: tuple[LayerSlot, Channel]
    mode: Mode
    numel: int
    layout: red.Layout | None = None
    units: int | None = None
    band: bool = False


class LayerObserver:
    """Hooks on every layer of ``table`` for one step, recording into ``buffer``."""

    def __init__(self, table: LayerTable, buffer: red.StepBuffer, mode: Mode,
                 on_error: Callable[[str, BaseException], None],
                 accept: Callable[[nn.Module], bool] | None = None, collapse_entropy: float = 0.0,
                 in_forward: Callable[[], bool] | None = None) -> None:
        self.table = table
        self.buffer = buffer
        self.mode = mode
        self.on_error = on_error
        #: which forward calls count (default: grad mode on and the module training)
        self.accept = accept or (lambda m: torch.is_grad_enabled() and m.training)
        #: whether the model's own forward is running (a softmax read as attention only counts inside it)
        self.in_forward = in_forward or (lambda: bool(self._running))
        self.seen = False  # a layer forward was observed
        self.layers_changed = False  # a layer got its index now
        self.facts_changed = False  # a fact of a layer changed (its attention's view of later keys)
        self._next_key_sent: dict[LayerSlot, float] = {}  # the next-key weight last sent with the facts
        self._handles: list[Any] = []
        #: attention statistics: the layers whose forward is running, and the last one that ended
        self._running: list[LayerSlot] = []
        self._ended: LayerSlot | None = None
        self._attention_band = (collapse_entropy, float("inf"))  # the collapsed heads' share is ``sat_frac``

    # ------------------------------------------------------------------ attach / detach
    def attach(self) -> None:
        for module, slot in self.table.slots.items():
            self._handles.append(module.register_forward_pre_hook(self._pre_hook(slot)))
            self._handles.append(module.register_forward_hook(self._post_hook(slot)))
        self.set_mode(self.mode)

    def set_mode(self, mode: Mode) -> None:
        """Record as ``mode`` says from now on (attention entropies on statistics steps only)."""
        self.mode = mode
        if mode == Mode.STATS and self._handles:
            attention.listen(self.on_attention)
        else:
            attention.unlisten(self.on_attention)

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        attention.unlisten(self.on_attention)
        self._running.clear()

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def _pre_hook(self, slot: LayerSlot) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any) -> None:  # a function: deepcopy shares it (see torch_unit)
            try:
                if module is slot.module and self.accept(module):
                    if self.mode == Mode.STATS:
                        self._running.append(slot)
                    self.on_input(slot, args)
            except Exception as exc:  # never into training
                self.on_error("forward pre-hook", exc)
        return hook

    def _post_hook(self, slot: LayerSlot) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            try:
                if module is slot.module and self.accept(module):
                    if self.mode == Mode.STATS:
                        self._ended_forward(slot, output)
                    self.on_output(slot, args, output)
            except Exception as exc:
                self.on_error("forward hook", exc)
        return hook

    # ------------------------------------------------------------------ observations
    def on_input(self, slot: LayerSlot, args: Any) -> None:
        mode = Mode.EXACT if self.mode == Mode.EXACT else Mode.FLAGS
        first = True
        for t in iter_tensors(args):
            if observable(t):
                # on a statistics step the first input gets its range too: a functional op between two
                # layers (F.relu, pooling) shows as an input that differs from the previous layer's output
                stats = self.mode == Mode.STATS and first and t.is_floating_point()
                self.observe((slot, Channel.INPUT), t, Mode.STATS if stats else mode)
                first = False

    def on_output(self, slot: LayerSlot, args: Any, output: Any) -> None:
        tensors = [t for t in iter_tensors(output) if observable(t)]
        if not tensors:
            return
        self.seen = True
        if self.table.index(slot):
            self.layers_changed = True
        if slot.output_shape is None:
            slot.output_shape = tuple(int(s) for s in tensors[0].shape)
            slot.unit_axis = default_unit_axis(slot.module, tensors[0].dim())
        stats = self.mode == Mode.STATS
        relu = slot.activation in RELU_FAMILY
        layout = _STATS
        if relu:
            layout = _NONNEGATIVE_STATS if type(slot.module) in (nn.ReLU, nn.ReLU6) else _RELU_STATS
        band = summary.SATURATION_BANDS.get(slot.activation or "") if stats else None
        for t in tensors:
            fits = t.dim() > (slot.unit_axis or 0) % max(t.dim(), 1)
            axis = slot.unit_axis if stats and relu and fits else None
            self.observe((slot, Channel.OUTPUT), t, self.mode, layout, axis, band)
            if t.requires_grad:
                t.register_hook(self._grad_hook(slot))

    def _ended_forward(self, slot: LayerSlot, output: Any) -> None:
        if self._running and self._running[-1] is slot:
            self._running.pop()
        self._ended = slot
        returned = isinstance(output, tuple) and len(output) > 1 and isinstance(output[1], torch.Tensor)
        if returned and isinstance(slot.module, nn.MultiheadAttention):  # need_weights=True: no SDPA call
            with torch.no_grad():
                call = attention.from_weights(output[1])
            if call is not None:
                self.on_attention(call, slot)

    def on_attention(self, call: attention.AttentionCall, slot: LayerSlot | None = None) -> None:
        """An attention call's per-head normalized entropy, for the layer running it (see the module doc),
        and whether its queries may attend later keys (a fact of the layer, kept once seen)."""
        running = self._running[-1] if self._running else None
        if call.from_softmax and (not self.in_forward() or (
                running is not None and isinstance(running.module, nn.MultiheadAttention))):
            return  # a softmax outside the model (a loss's), or one that the layer's weights report
        slot = slot or running or self._ended
        if slot is None:
            return
        record(self.buffer, (slot, Channel.ATTENTION), call.entropy, Mode.STATS, band=self._attention_band)
        if call.sees_later_keys is not None and slot.sees_later_keys is not True:
            if slot.sees_later_keys != call.sees_later_keys:
                self.facts_changed = True
            slot.sees_later_keys = call.sees_later_keys
        weight = call.next_key_weight
        if weight is not None and weight > (slot.next_key_weight or 0.0):
            if weight > self._next_key_sent.get(slot, 0.0) + NEXT_KEY_WEIGHT_STEP:
                self._next_key_sent[slot] = weight  # (facts are sent again on a clear rise only)
                self.facts_changed = True
            slot.next_key_weight = weight

    def _grad_hook(self, slot: LayerSlot) -> Callable[[torch.Tensor], None]:
        def hook(grad: torch.Tensor | None) -> None:
            if grad is None:  # an output the loss does not depend on (cuDNN's LSTM passes None for h, c)
                return
            try:
                if observable(grad):
                    self.observe((slot, Channel.OUTPUT_GRAD), grad, self.mode, _GRAD_STATS)
            except Exception as exc:
                self.on_error("gradient hook", exc)
        return hook

    def observe(self, key: tuple[LayerSlot, Channel], t: torch.Tensor, mode: Mode,
                layout: red.Layout = _STATS, unit_axis: int | None = None,
                band: tuple[float, float] | None = None) -> None:
        """Reduce ``t`` on its device as ``mode`` says (see the module docstring)."""
        record(self.buffer, key, t, mode, layout, unit_axis, band)


def record(buffer: red.StepBuffer, key: Any, t: torch.Tensor, mode: Mode, layout: red.Layout = _STATS,
           unit_axis: int | None = None, band: tuple[float, float] | None = None) -> None:
    """Reduce one tensor into ``buffer`` (an ``Observation`` entry)."""
    numel = t.numel()
    if numel == 0:
        buffer.add(key, "obs", 0, (), Observation(key, Mode.FLAGS, 0))
        return
    if mode == Mode.FLAGS or (mode == Mode.STATS and not t.is_floating_point()):
        flag = red.finite_flag(t)
        buffer.add(key, "obs", numel, () if flag is None else (flag,), Observation(key, Mode.FLAGS, numel))
    elif mode == Mode.EXACT:
        scalars = (red.nonfinite_count(t),) if t.is_floating_point() else ()
        buffer.add(key, "obs", numel, scalars, Observation(key, Mode.EXACT, numel))
    else:
        scalars = red.stat_scalars(t, layout)
        units = None
        if unit_axis is not None and t.dim() >= 1:
            units = t.shape[unit_axis] if t.dim() >= 2 else numel
            scalars.append(red.dead_units(t, unit_axis))
        if band is not None:
            scalars.append(red.saturated_count(t, band))
        buffer.add(key, "obs", numel, scalars,
                   Observation(key, Mode.STATS, numel, layout, units, band is not None))
