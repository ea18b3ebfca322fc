"""The Keras 3 probe's callback, ``DeepLocalize`` (``probes.keras.instrument`` injects it into ``Model.fit``).

One ``StepRecord`` per training step: the batch's own loss and metrics (every step, so a NaN is seen on the
step it appears), the learning rate, and, every ``config.stats_every`` steps (and on the step the loss first
turns non-finite), per-layer statistics from a backend collector: under the torch backend the torch probe's
hooks on the Keras layers (the real batch), under TensorFlow and JAX a probe batch (``keras_batch``).
Validation metrics arrive at epoch end and are attached to the epoch's last step. Every error inside the
tool is recorded in the diagnosis and training goes on; the only exception sent into ``fit`` on purpose is
``FaultDetected`` with ``on_fault="raise"``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import keras

from deeplocalize.config import Config
from deeplocalize.diagnosis import Diagnosis
from deeplocalize.errors import FaultDetected
from deeplocalize.monitor import Monitor
from deeplocalize.probes.keras_dump import BatchDumps
from deeplocalize.probes.keras_facts import current_lr, data_info, model_info
from deeplocalize.probes.keras_metrics import BatchMetrics
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import OnFault, Verdict


def _fit_arguments(model: Any) -> dict[str, Any]:
    """``x``, ``y``, ``batch_size`` of the ``fit`` call running on ``model`` (read from its frame)."""
    frame = sys._getframe(1)
    for _ in range(12):
        if frame is None:
            break
        if frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model:
            names = ("x", "y", "batch_size", "validation_split")
            return {k: frame.f_locals.get(k) for k in names}
        frame = frame.f_back
    return {}


def _make_collector(model: Any, monitor: Monitor, data: tuple[Any, Any] | None, start_step: int) -> Any:
    """The per-layer collector for the active Keras backend."""
    if keras.backend.backend() == "torch":
        from deeplocalize.probes.keras_torch import TorchLayerCollector

        return TorchLayerCollector(model, monitor.model.layers, monitor, start_step)
    from deeplocalize.probes.keras_batch import ProbeBatchCollector, probe_batch

    batch = probe_batch(*data) if data is not None else None
    return ProbeBatchCollector(model, monitor.model.layers, batch, monitor.config.stats_every)


class DeepLocalize(keras.callbacks.Callback):
    """Watch a Keras 3 ``fit`` and localize faults: ``model.fit(x, y, callbacks=[DeepLocalize()])``.

    ``on_fault``: "stop" (set ``model.stop_training``), "raise" (raise ``deeplocalize.FaultDetected``),
    "warn" (a warning per new finding), "continue" (record silently). ``store``: persist the run in the
    run store (True: the default store; a path: that store; False: nowhere). ``verbose``: "auto" prints a
    one-line summary at the end of training when ``fit`` itself is verbose; 0 never, 1 always.
    ``dump_dir``: save the batch of a step whose loss turns NaN/Inf or spikes there (torch backend;
    ``deeplocalize.load_dump`` reads it). After ``fit``, ``.diagnosis`` holds the result (each ``fit``
    call starts a new run).
    """

    def __init__(self, on_fault: str = "stop", *, config: Config | None = None, store: Any = True,
                 verbose: int | str = "auto", monitor: Monitor | None = None,
                 max_steps: int | None = None, dump_dir: str | Path | None = None) -> None:
        super().__init__()
        self.on_fault = OnFault(on_fault)
        self.config = config or Config()
        self.store = store
        self.verbose = verbose
        self.max_steps = max_steps
        self.diagnosis: Diagnosis | None = None
        self.monitor: Monitor | None = monitor
        self._shared = monitor is not None  # bound to a monitor owned by ``instrument`` (the CLI)
        self._fit_data: dict[str, Any] | None = None
        self._collector: Any = None
        self._metrics: BatchMetrics | None = None
        self._step = 0
        self._epoch = 0
        self._pending: tuple[int, int] | None = None
        self._stopped = False
        self.dump_dir = None if dump_dir is None else Path(dump_dir)
        self._dumps: BatchDumps | None = None

    # ------------------------------------------------------------------ set-up
    def set_fit_data(self, x: Any, y: Any, batch_size: int | None = None) -> None:
        """Tell the callback what ``fit`` was given (``instrument`` does this; else read from the frame)."""
        self._fit_data = {"x": x, "y": y, "batch_size": batch_size}

    def _new_monitor(self) -> Monitor:
        recorder = None
        if self.store:
            try:
                from deeplocalize.store import RunStore

                path = None if self.store is True else self.store
                recorder = RunStore(path).create_run("keras", command=None, config=self.config)
            except Exception as exc:  # a broken store must not stop training
                monitor = Monitor("keras", self.config, self.on_fault)
                monitor.tool_error("store", exc)
                return monitor
        return Monitor("keras", self.config, self.on_fault, recorder=recorder)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self._shared:
            self.monitor = self._new_monitor()
            self.diagnosis = None
        monitor = self.monitor
        assert monitor is not None
        self._step = monitor.trace.last_step
        self._stopped = False
        try:
            data = self._fit_data or _fit_arguments(self.model)
            self._fit_data = None
            steps = (self.params or {}).get("steps")
            info = model_info(self.model, data.get("x"), data.get("y"), data.get("batch_size"), steps)
            monitor.set_model(info)
            self._metrics = BatchMetrics(self.model)
            if self.dump_dir is not None:
                monitor.dump_dir = self.dump_dir
            self._dumps = BatchDumps.start(self.model, monitor)
            xy = (data["x"], data.get("y")) if data.get("x") is not None else None
            self._collector = _make_collector(self.model, monitor, xy, self._step)
            if info.data is None and keras.backend.backend() == "torch":
                self._read_first_batch()
        except Exception as exc:
            monitor.tool_error("keras set-up", exc)

    def _read_first_batch(self) -> None:
        """``fit`` was given no arrays (a generator, a dataset, a ``PyDataset``): read the data facts from
        the first batch ``train_step`` receives (torch backend: an eager call), then step aside."""
        model = self.model
        original = model.train_step
        own = model.__dict__.get("train_step")  # a wrapper already there (the dumps') stays after

        def train_step(data: Any) -> Any:
            if own is None:  # one batch only
                model.__dict__.pop("train_step", None)
            else:
                model.__dict__["train_step"] = own
            monitor = self.monitor
            if monitor is not None:
                try:
                    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
                    facts = data_info(x, y)
                    if facts is not None:
                        monitor.model.data = facts
                        monitor.model.batch_size = monitor.model.batch_size or (facts.x_shape or (None,))[0]
                        monitor.set_model(monitor.model)
                except Exception as exc:
                    monitor.tool_error("keras first batch", exc)
            return original(data)

        model.__dict__["train_step"] = train_step

    # ------------------------------------------------------------------ steps
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        if self._metrics is not None:
            self._metrics.reset()

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.monitor is None:
            return
        self._pending = (batch, self._step + 1)
        if self._collector is not None:
            try:
                self._collector.begin_step(self._step + 1)
            except Exception as exc:
                self.monitor.tool_error("keras collector", exc)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        monitor = self.monitor
        if monitor is None:
            return
        begin = self._pending[0] if self._pending else batch
        self._step += max(1, batch - begin + 1)  # steps_per_execution > 1: several steps per call
        self._pending = None
        record = StepRecord(step=self._step, epoch=self._epoch)
        try:
            values = self._metrics.read(logs) if self._metrics is not None else {}
            record.loss = values.pop("loss", None)
            record.metrics = {k: v for k, v in values.items() if isinstance(v, float)}
            record.lr = current_lr(self.model.optimizer)
            nonfinite = record.loss is not None and not math.isfinite(record.loss)
            if self._collector is not None:
                part = self._collector.end_step(self._step, nonfinite)
                if part is not None:
                    record.stats, record.data, record.target = part.stats, part.data, part.target
        except Exception as exc:
            monitor.tool_error("keras step", exc)
        if self._dumps is not None:
            self._dumps.after_step(record.step, record.loss)
        monitor.record(record)
        self._apply_policy()
        if self.max_steps is not None and self._step >= self.max_steps:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.monitor is None or not logs:
            return
        val = {}
        for name, value in logs.items():
            if name.startswith("val_"):
                try:
                    val[name] = float(value)
                except (TypeError, ValueError):
                    continue
        if val:
            self.monitor.log(**val)
            self._apply_policy()

    def _apply_policy(self) -> None:
        monitor = self.monitor
        assert monitor is not None
        action = monitor.action()
        if action == OnFault.STOP and not self._stopped:
            self._stopped = True
            monitor.stopped_early = True
            self.model.stop_training = True
        elif action == OnFault.RAISE:
            diagnosis = self._finish(stopped_early=True)
            raise FaultDetected(diagnosis)

    # ------------------------------------------------------------------ end
    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.monitor is None:
            return
        self._close_collector()
        if self._shared:
            return  # the owner of the monitor (``instrument``'s caller) finishes the run
        diagnosis = self._finish(stopped_early=self._stopped)
        if self._should_print():
            print(_summary_line(diagnosis), flush=True)

    def _finish(self, stopped_early: bool) -> Diagnosis:
        self._close_collector()
        monitor = self.monitor
        assert monitor is not None
        try:
            # reached from on_train_end: fit ended on its own unless it was stopped
            self.diagnosis = monitor.finish(stopped_early=stopped_early, completed=not stopped_early)
        except Exception as exc:  # the monitor contains its errors; this is the last line of defence
            monitor.tool_error("keras finish", exc)
            self.diagnosis = Diagnosis(
                verdict=Verdict.FAULTY if monitor.findings else Verdict.INCONCLUSIVE,
                framework="keras", steps_observed=monitor.trace.steps_observed, stopped_early=stopped_early,
                layers=list(monitor.model.layers), findings=monitor.findings, tool_errors=monitor.tool_errors)
        return self.diagnosis

    def _close_collector(self) -> None:
        if self._dumps is not None:
            self._dumps.stop()
            self._dumps = None
        if self._collector is None:
            return
        try:
            self._collector.close()
        except Exception as exc:
            assert self.monitor is not None
            self.monitor.tool_error("keras collector", exc)
        self._collector = None

    def _should_print(self) -> bool:
        if self.verbose == "auto":
            return (self.params or {}).get("verbose", 1) not in (0, None)
        return bool(self.verbose)


def _summary_line(diagnosis: Diagnosis) -> str:
    """One short line: the verdict, and where the first fault is with its fix."""
    head = f"deeplocalize: {diagnosis.verdict} after {diagnosis.steps_observed} steps"
    if diagnosis.findings:
        f = diagnosis.findings[0]
        where = f" in layer `{f.layer.name}`" if f.layer is not None else ""
        head += f" — {f.symptom}{where} ({f.phase}) at step {f.step}"
    if diagnosis.first_fix:
        head += f"; fix: {diagnosis.first_fix}"
    if diagnosis.tool_errors:
        head += f" [{len(diagnosis.tool_errors)} internal error(s)]"
    return head
