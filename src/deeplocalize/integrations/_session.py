"""What the trainer callbacks share: run the torch probe over a trainer's loop and apply the policy.

The probe itself runs with ``on_fault="continue"`` (it never raises inside the trainer's optimizer step,
where a trainer would treat the signal as a crash); the callback asks ``poll()`` after each step and
stops the trainer its own way (Lightning ``trainer.should_stop``, HF ``control.should_training_stop``).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

from deeplocalize.config import Config
from deeplocalize.diagnosis import Diagnosis
from deeplocalize.errors import FaultDetected
from deeplocalize.monitor import Monitor
from deeplocalize.vocabulary import OnFault, Verdict


class ProbeSession:
    """One watched training: ``start`` -> ``poll`` after each step -> ``finish``. Never raises, except
    ``FaultDetected`` from ``poll`` with ``on_fault="raise"``."""

    def __init__(self, on_fault: OnFault | str = OnFault.STOP, config: Config | None = None,
                 store: Any = True, **watch_options: Any) -> None:
        self.on_fault = OnFault(on_fault)
        self.config = config
        self.store = store
        self.watch_options = watch_options
        self.run: Any = None
        self.diagnosis: Diagnosis | None = None
        self.stopped_early = False
        self._warned: set[tuple] = set()
        self._errors: list[str] = []

    @property
    def monitor(self) -> Monitor | None:
        return getattr(self.run, "monitor", None)

    @property
    def active(self) -> bool:
        return self.run is not None

    @property
    def _stops(self) -> bool:
        """The policy ends training (stop or raise), which the probe's policy decides when."""
        return self.on_fault in (OnFault.STOP, OnFault.RAISE)

    def start(self, model: Any, optimizer: Any = None) -> None:
        """Install the probe on ``model`` (and ``optimizer`` if known; else it is found when it steps)."""
        if self.run is not None:
            return
        self.diagnosis = None
        self.stopped_early = False
        self._warned.clear()
        try:
            from deeplocalize.probes.torch import watch

            run = watch(model, optimizer, on_fault=self.on_fault if self._stops else OnFault.CONTINUE,
                        config=self.config, store=self.store, **self.watch_options)
            run.monitor.stop_by_caller = True  # agreed by every rank in a distributed job, never raised
            run.__enter__()
            self.run = run
        except Exception as exc:
            self._note(f"start: {type(exc).__name__}: {exc}")

    def poll(self) -> OnFault | None:
        """After a training step: STOP when the trainer must stop; RAISE raises ``FaultDetected``."""
        monitor = self.monitor
        if monitor is None:
            return None
        try:
            findings = monitor.findings if monitor.fault_confirmed else []
            if self._stops and not monitor.stop_requested:
                findings = []  # the probe's policy (agreed by every rank) has not asked for the stop yet
        except Exception as exc:
            self._note(f"poll: {type(exc).__name__}: {exc}")
            return None
        if not findings:
            return None
        if self.on_fault == OnFault.WARN:
            for finding in findings:
                if finding.key not in self._warned:
                    self._warned.add(finding.key)
                    warnings.warn(f"deeplocalize: {finding.message}", RuntimeWarning, stacklevel=2)
            return None
        if self.on_fault == OnFault.STOP:
            self.stopped_early = True
            monitor.stopped_early = True
            return OnFault.STOP
        if self.on_fault == OnFault.RAISE:
            self.stopped_early = True
            monitor.stopped_early = True
            raise FaultDetected(self.finish(exc=None))
        return None

    def finish(self, exc: BaseException | None = None) -> Diagnosis:
        """Uninstall the probe and return the diagnosis (idempotent)."""
        if self.diagnosis is not None and self.run is None:
            return self.diagnosis
        run, self.run = self.run, None
        diagnosis: Diagnosis | None = None
        if run is not None:
            try:
                run.__exit__(type(exc) if exc is not None else None, exc,
                             exc.__traceback__ if exc is not None else None)
            except Exception as err:
                self._note(f"finish: {type(err).__name__}: {err}")
            diagnosis = getattr(run, "diagnosis", None)
            if diagnosis is None and getattr(run, "monitor", None) is not None:
                diagnosis = run.monitor.finish(stopped_early=self.stopped_early, completed=exc is None)
        if diagnosis is None:
            diagnosis = Diagnosis(verdict=Verdict.INCONCLUSIVE, framework="torch")
        if self.stopped_early:
            diagnosis.stopped_early = True
        diagnosis.tool_errors.extend(e for e in self._errors if e not in diagnosis.tool_errors)
        self.diagnosis = diagnosis
        return diagnosis

    def finish_with_report(self, exc: BaseException | None, html: Any = None) -> Diagnosis:
        """``finish``, then the HTML report at ``html`` when asked (a failure becomes a tool error)."""
        monitor = self.monitor
        trace, model = (monitor.trace, monitor.model) if monitor is not None else (None, None)
        diagnosis = self.finish(exc)
        if html is not None:
            try:
                diagnosis.save_html(html, trace=trace, model=model)
            except Exception as err:
                diagnosis.tool_errors.append(f"html report: {type(err).__name__}: {err}")
        return diagnosis

    def _note(self, text: str) -> None:
        text = f"integration {text}"
        if text not in self._errors:
            self._errors.append(text)
            if len(self._errors) == 1:
                print(f"deeplocalize: internal error, training goes on unaffected: {text}", file=sys.stderr)


class WatchingCallback:
    """What the framework callbacks share: the policy, the HTML path, the probe session and its diagnosis.
    A mixin, listed before the framework's callback class (its ``__init__`` calls the next one's)."""

    def __init__(self, on_fault: str = "stop", *, config: Config | None = None, store: Any = True,
                 html: str | Path | None = None, **watch_options: Any) -> None:
        super().__init__()
        self.on_fault = OnFault(on_fault)
        self.html = html
        self._session = ProbeSession(on_fault, config=config, store=store, **watch_options)
        self.diagnosis: Diagnosis | None = None

    @property
    def monitor(self) -> Monitor | None:
        """The live monitor while training runs (None otherwise)."""
        return self._session.monitor
