"""Keras under the torch backend: the torch probe's per-layer hooks on the Keras layers (the real batch).

Keras layers are ``torch.nn.Module`` objects there, so per-layer hooks see each training forward, the
output gradients and the parameter gradients of the actual step. ``model.layers`` is walked (Keras layers
are not listed by ``named_modules()``), with index = position in ``model.layers`` and name = ``layer.name``.
The Keras callback ends each step after the update, so there is no replay here: every step has a
finiteness flag per layer input, output and output gradient (NaN/Inf latency 0 at the layer), and full
statistics come at the ``stats_every`` cadence. Keras builds models symbolically on the ``meta`` device;
those calls are ignored.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

from deeplocalize.model import LayerInfo
from deeplocalize.monitor import Monitor
from deeplocalize.probes import torch_reduce as red
from deeplocalize.probes.torch_check import NormPlan, add_norms
from deeplocalize.probes.torch_grad_reset import MIN_STEPS
from deeplocalize.probes.torch_hooks import LayerObserver, Mode, iter_tensors, record
from deeplocalize.probes.torch_layers import LayerSlot, LayerTable, keras_slots
from deeplocalize.probes.torch_record import layer_stats, measure
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Channel


def _on_meta(obj: Any) -> bool:
    return any(t.device.type == "meta" for t in iter_tensors(obj))


class KerasGradReset:
    """Does a ``train_step`` reset its gradients? Keras's own ``train_step`` on the torch backend calls
    ``zero_grad()`` (the gradients set to None) before its backward, so each step's gradient is a new tensor;
    a custom one that forgets it leaves the same tensor, which its backward adds to in place (its version
    counter one higher at the end of the step). One parameter stands for the model, followed from the start
    of each step to its end: the same tensor one version on, ``MIN_STEPS`` times in a row (the torch loop's
    count, ``torch_grad_reset``) and never anything else, is the fact (``grads_not_reset_from``: its first
    such step). Two attribute reads a step, until the fact is made or a reset is seen."""

    def __init__(self) -> None:
        self.done = False  # a reset seen, or the fact made: nothing more to watch
        self.kept = 0
        self.first: int | None = None
        self._grad: Any = None
        self._version = 0

    def begin(self, param: torch.Tensor | None) -> None:
        grad = None if self.done or param is None else param.grad
        self._grad = None if grad is None else weakref.ref(grad)
        self._version = 0 if grad is None else grad._version

    def end(self, param: torch.Tensor | None, step: int) -> int | None:
        """The first step of the run of kept gradients once it is long enough to be the fact, else None."""
        if self.done or self._grad is None or param is None:
            return None
        grad = param.grad
        if grad is None or self._grad() is not grad or grad._version != self._version + 1:
            self.done = True  # reset (set to None, replaced, or zeroed in place) or not in a way told apart
            return None
        self.kept += 1
        self.first = step if self.first is None else self.first
        if self.kept < MIN_STEPS:
            return None
        self.done = True
        return self.first


class TorchLayerCollector:
    """The Keras callback's collector under the torch backend (same interface as ``ProbeBatchCollector``)."""

    def __init__(self, model: Any, layers: list[LayerInfo], monitor: Monitor, start_step: int = 0) -> None:
        self.model = model
        self.monitor = monitor
        slots = keras_slots(model, {info.index: info.activation for info in layers},
                            {info.index: info.unit_axis for info in layers})
        self.table = LayerTable.of_layers(model, slots)
        self.plan = NormPlan.of(self.table)
        self.buffer = red.StepBuffer()
        self.observer = LayerObserver(self.table, self.buffer, Mode.FLAGS, self._error,
                                      accept=lambda m: torch.is_grad_enabled() and m.training)
        self.observer.on_output = self._skip_meta(self.observer.on_output)  # type: ignore[method-assign]
        self.observer.on_input = self._skip_meta(self.observer.on_input)  # type: ignore[method-assign]
        self.observer.attach()
        on_input = self._on_input

        def input_hook(module: Any, args: Any) -> None:  # a function: deepcopy shares it (torch_unit)
            if module is model:
                on_input(module, args)

        self._input_hook = model.register_forward_pre_hook(input_hook)
        self._snapshot: list[tuple[Any, torch.Tensor, torch.Tensor]] = []
        self._stats = False
        self.grad_reset = KerasGradReset()
        self._watched = next((p for _, p in self.table.parameters() if p.requires_grad), None)
        del start_step

    def _error(self, where: str, exc: BaseException) -> None:
        self.monitor.tool_error(f"keras torch {where}", exc)

    @staticmethod
    def _skip_meta(fn: Any) -> Any:
        def call(slot: LayerSlot, args: Any, *rest: Any) -> None:
            if not _on_meta(args) and not (rest and _on_meta(rest[0])):
                fn(slot, args, *rest)
        return call

    def _on_input(self, module: Any, args: Any) -> None:
        try:
            if torch.is_grad_enabled() and module.training and not _on_meta(args):
                x = next(iter_tensors(args), None)
                if x is not None:
                    record(self.buffer, "data", x, Mode.STATS if self._stats else Mode.FLAGS)
        except Exception as exc:  # never into training
            self._error("input hook", exc)

    def begin_step(self, step: int) -> None:
        """Before the step: statistics or flags, and the parameters before the update (statistics steps)."""
        self._stats = (step - 1) % max(1, self.monitor.config.stats_every) == 0
        self.buffer = red.StepBuffer()
        self.observer.buffer = self.buffer
        self.observer.set_mode(Mode.STATS if self._stats else Mode.FLAGS)
        self._snapshot = []
        self.grad_reset.begin(self._watched)
        if self._stats:
            with torch.no_grad():
                self._snapshot = [((slot, Channel.UPDATE), p, p.clone())
                                  for slot, p in self.table.parameters()]

    def end_step(self, step: int, loss_nonfinite: bool) -> StepRecord | None:
        """After the step: the record of its layers (statistics or flags, parameter norms), or None."""
        del loss_nonfinite
        kept_from = self.grad_reset.end(self._watched, step)
        if kept_from is not None:  # read by the gradients_not_reset detector
            self.monitor.model.extra["grads_not_reset_from"] = kept_from
        buffer = self.buffer
        if self._stats:
            trainable: set[int | None] = set()
            with_grad: set[int | None] = set()  # (None: a parameter of no indexed layer)
            with torch.no_grad():
                for slot, p in self.table.parameters():
                    record(buffer, (slot, Channel.WEIGHTS), p.detach(), Mode.STATS)
                    if p.requires_grad:
                        trainable.add(slot.index)
                    if p.grad is not None:
                        with_grad.add(slot.index)
                        record(buffer, (slot, Channel.WEIGHT_GRAD), p.grad, Mode.STATS,
                               red.Layout(zeros=True))
                for key, p, before in self._snapshot:
                    if p.shape == before.shape:
                        record(buffer, key, p.detach() - before, Mode.STATS)
            if with_grad:  # a backward ran: the trainable layers it left without a gradient
                self._note_gradless(trainable - with_grad)
        else:
            add_norms(buffer, self.plan)
        if not buffer.entries:
            return None
        buffer.fetch_all()
        measured = measure([buffer])
        stats = layer_stats(measured.stats)
        rec = StepRecord(step=step, stats=stats, data=measured.stats.get("data"))
        rec.all_finite = measured.finite()
        self.buffer = red.StepBuffer()
        self.observer.buffer = self.buffer
        return rec

    def _note_gradless(self, gradless: set[int | None]) -> None:
        """Mark the layers (by index) none of whose parameters had a gradient at this statistics step."""
        for layer in self.monitor.model.layers:
            if layer.index in gradless:
                layer.extra["no_gradient"] = True
            else:
                layer.extra.pop("no_gradient", None)

    def close(self) -> None:
        self.observer.detach()
        self._input_hook.remove()
