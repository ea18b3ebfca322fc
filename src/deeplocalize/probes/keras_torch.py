"""Keras under the torch backend: the torch probe's ``TorchCollector`` on the Keras layers (the real batch).

Keras layers are ``torch.nn.Module`` objects there, so per-module hooks see each training forward, the
output gradients and the parameter gradients of the actual step. ``model.layers`` is walked (Keras layers
are not listed by ``named_modules()``), with index = position in ``model.layers`` and name = ``layer.name``.
Keras builds models symbolically on the ``meta`` device; those calls are ignored.
"""

from __future__ import annotations

from typing import Any

from deeplocalize.config import Config
from deeplocalize.model import LayerInfo
from deeplocalize.monitor import Monitor
from deeplocalize.probes.torch_collector import LayerSlot, TorchCollector, iter_tensors
from deeplocalize.trace import StepRecord


def _on_meta(obj: Any) -> bool:
    return any(t.device.type == "meta" for t in iter_tensors(obj))


class _KerasTorchCollector(TorchCollector):
    """``TorchCollector`` that ignores Keras' symbolic (meta-device) calls."""

    def forward_pre(self, slot: LayerSlot, args: Any) -> None:
        if not _on_meta(args):
            super().forward_pre(slot, args)

    def forward_post(self, slot: LayerSlot, args: Any, output: Any) -> None:
        if not _on_meta(output):
            super().forward_post(slot, args, output)


class _Capture:
    """Stands in for the monitor inside the collector: keeps the record instead of recording it."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.config: Config = monitor.config
        self.record_: StepRecord | None = None

    def record(self, record: StepRecord) -> None:
        self.record_ = record

    def tool_error(self, where: str, exc: BaseException) -> None:
        self.monitor.tool_error(where, exc)


class TorchLayerCollector:
    """The Keras callback's collector under the torch backend (same interface as ``ProbeBatchCollector``)."""

    def __init__(self, model: Any, layers: list[LayerInfo], monitor: Monitor, start_step: int = 0) -> None:
        self.model = model
        self._capture = _Capture(monitor)
        entries = [(i, layer.name, layer) for i, layer in enumerate(model.layers)]
        params = {i: [v.value for v in layer.trainable_weights] for i, layer in enumerate(model.layers)}
        self.collector = _KerasTorchCollector(
            self._capture, entries,  # type: ignore[arg-type]
            layer_infos={info.index: info for info in layers}, params=params)
        self.collector.step = start_step
        self.collector.async_copy = False  # the callback reads each step's record as the step ends
        self.collector.attach()
        self._input_hook = model.register_forward_pre_hook(self._on_input)

    def _on_input(self, module: Any, args: Any) -> None:
        try:
            if self.collector.should_record(module) and not _on_meta(args):
                self.collector.observe_data(args)
        except Exception as exc:  # never into training
            self._capture.tool_error("keras torch input hook", exc)

    def begin_step(self, step: int) -> None:
        """Before the step: snapshot the parameters (the collector does it on full-statistics steps only)."""
        del step
        self.collector.snapshot_params()

    def end_step(self, step: int, loss_nonfinite: bool) -> StepRecord | None:
        """After the step: the collector's record of it (stats, data), or None if nothing was seen.

        Non-finite counts are measured on every step here, so a NaN needs no extra pass.
        """
        del loss_nonfinite
        self._capture.record_ = None
        self.collector.end_step(step=step)
        return self._capture.record_

    def close(self) -> None:
        self.collector.detach()
        self._input_hook.remove()
        self.collector.discard_step()
