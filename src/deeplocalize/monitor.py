"""The framework-free engine between a probe and the diagnosis.

A probe calls ``Monitor.record(step_record)`` once per training step. The monitor appends it to the trace,
hands it to the run store, runs the detectors at their cadence, keeps the earliest finding per
(symptom, phase, layer), and applies the ``on_fault`` policy: ``action`` tells the probe whether to stop
or raise. Errors inside the monitor are caught and kept in ``tool_errors``; they never reach training.

A *provisional* finding (a stall or slow start judged early, ``severity.is_provisional``) never stops
training, alone or through a warning it escalates: only firm evidence does. It is withdrawn when the
detector that made it checks again and no longer sees the failure (the plateau ended, the loss came down
past the chance level): a suspicion the run itself disproved is not part of its diagnosis.
"""

from __future__ import annotations

import dataclasses
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from deeplocalize.compat import CompatError
from deeplocalize.config import Config
from deeplocalize.detectors import Detector, load_all
from deeplocalize.detectors._curve import maximized_objective, surrogate_loss
from deeplocalize.diagnosis import Diagnosis, Finding
from deeplocalize.errors import PartiallyWatchedJobError, RankLostError, StoreError
from deeplocalize.model import ModelInfo
from deeplocalize.severity import any_fault, base_severity, is_provisional, resolve
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import OnFault, Phase, Severity, Verdict


class RunRecorder(Protocol):
    """Where a run is persisted as it goes (implemented by ``store.RunWriter``)."""

    def write_model(self, model: ModelInfo) -> None: ...
    def write_step(self, record: StepRecord) -> None: ...
    def write_diagnosis(self, diagnosis: Diagnosis) -> None: ...
    def close(self) -> None: ...
    # Optional, for the ranks of a distributed job to be one run (``store.RunWriter`` has both):
    # ``job_key() -> str`` and ``join_job(leader: str | None, rank: int, world_size: int) -> None``; and for
    # the other models of a script to be stored too: ``open_model(index: int) -> RunRecorder | None``.


class Monitor:
    """Collects step records, runs detectors, decides the policy action."""

    def __init__(
        self,
        framework: str,
        config: Config | None = None,
        on_fault: OnFault | str = OnFault.STOP,
        recorder: RunRecorder | None = None,
        detectors: list[Detector] | None = None,
    ) -> None:
        self.framework = framework
        self.config = config or Config()
        self.on_fault = OnFault(on_fault)
        self.recorder = recorder
        self.detectors = list(load_all() if detectors is None else detectors)
        self.trace = Trace(window=self.config.window, history=self.config.history)
        self.model = ModelInfo(framework=framework)
        self.tool_errors: list[str] = []
        self._findings: dict[tuple, Finding] = {}
        #: key of each provisional finding kept -> the detector that made it (``_withdraw``)
        self._provisional: dict[tuple, str] = {}
        self._warned: set[tuple] = set()
        self._preflight_done = False
        self.stopped_early = False
        #: a trainer callback stops the training itself, after the step (Lightning's ``should_stop``): the
        #: probe's policy then sets ``stop_requested`` (agreed by every rank of a job) instead of raising
        self.stop_by_caller = False
        self.stop_requested = False
        self.finished: Diagnosis | None = None
        #: set by a probe that holds back steps (the torch session's ``flush``): called before
        #: anything reads or adds to the latest step, so they see every step recorded so far
        self.flush_pending: Callable[[], None] | None = None
        #: the monitors of the other models trained in the same run (``spawn``); this one reports for all
        self.siblings: list[Monitor] = []
        self._is_sibling = False
        #: the monitors (by id) of this script's models seen training a surrogate objective (a policy
        #: gradient) or maximizing one (a loss below zero), shared with the others (``spawn``): the others'
        #: targets come from that policy
        self.policy_models: set[int] = set()
        #: how the training script failed, when it did (``crashed``): evidence for the static findings
        self.crash: str | None = None
        #: called with the script's exception when it fails (a probe adds what it knows, e.g. a lost rank)
        self.crash_hooks: list[Callable[[BaseException], None]] = []
        #: steps between trend checks: ``check_every``, or longer while a probe's statistics are sparse
        #: (the torch probe follows its cadence; see ``cadence.py``)
        self.check_gap = max(1, self.config.check_every)
        #: where a probe saves the inputs of a faulty or spiking step (``--dump-on-fault``); None: nowhere
        self.dump_dir: Path | None = None
        #: step -> the file the probe saved that step's batch in (named in the findings of that step)
        self.dumps: dict[int, str] = {}
        #: in a distributed job: this process's rank and the number of ranks (None: a single process)
        self.rank: int | None = None
        self.world_size: int | None = None

    def reset(self) -> None:
        """Forget the steps, facts and findings seen so far (the model being watched changed: a whole
        model split into the parts its optimizers train)."""
        self.trace = Trace(window=self.config.window, history=self.config.history)
        self.model = ModelInfo(framework=self.framework)
        self._findings.clear()
        self._provisional.clear()
        self._warned.clear()
        self._preflight_done = False
        self.policy_models.discard(id(self))

    def spawn(self) -> Monitor:
        """A monitor for another model of the same run: same settings, its own trace and findings, tool
        errors shared. ``diagnosis``/``finish`` of this monitor then cover every model."""
        sibling = Monitor(self.framework, self.config, self.on_fault, detectors=self.detectors)
        sibling.tool_errors = self.tool_errors
        sibling.dump_dir = self.dump_dir
        sibling.rank, sibling.world_size = self.rank, self.world_size
        sibling._is_sibling = True
        sibling.policy_models = self.policy_models
        open_model = getattr(self.recorder, "open_model", None)  # its steps stored too, as a run of its own
        if open_model is not None:
            try:
                sibling.recorder = open_model(len(self.siblings) + 1)
            except Exception as exc:
                self.tool_error("store", exc)
        self.siblings.append(sibling)
        return sibling

    # ------------------------------------------------------------------ feeding
    def set_model(self, model: ModelInfo) -> None:
        """Give (or update) the model facts; persisted with the run."""
        self.model = model
        if self.recorder is not None:
            self._guard("store", self.recorder.write_model, model)

    def record(self, record: StepRecord) -> None:
        """Take one step's record; never raises."""
        try:
            self.trace.append(record)
        except Exception as exc:
            self.tool_error("trace", exc)
            return
        if self.recorder is not None:
            self._guard("store", self.recorder.write_step, record)
        if not self._preflight_done:
            self._preflight_done = True
            self._run("first")
        self._run("step")
        if record.step % self.check_gap == 0:
            self._run("check")

    def log(self, **metrics: float) -> None:
        """Attach metrics to the latest step (``run.log(accuracy=0.9)``); before the first step, nothing."""
        self._flush_pending()
        try:
            for name, value in metrics.items():
                self.trace.set_metric(name, float(value))
        except Exception as exc:
            self.tool_error("log", exc)

    # ------------------------------------------------------------------ detectors
    def _run(self, cadence: str) -> None:
        # No learning curve to read in a loss chasing another model, or targets the model makes itself, or
        # a surrogate objective, or in a script that trains a policy gradient: every model's targets there
        # move with the policy.
        surrogate = cadence == "check" and surrogate_loss(self.trace, self.config)
        if surrogate or (cadence == "check" and maximized_objective(self.trace, self.config)):
            self.policy_models.add(id(self))
        extra = self.model.extra
        no_curve = bool(extra.get("adversarial") or extra.get("target_network") or extra.get("self_fed")
                        or surrogate or self.policy_models - {id(self)})
        for detector in self.detectors:
            if detector.cadence != cadence or (no_curve and detector.reads_curve):
                continue
            try:
                found = detector.run(self.trace, self.model, self.config)
            except Exception as exc:
                self.tool_error(f"detector {detector.name}", exc)
                continue
            if self._provisional:  # most runs have none: nothing to build on every step
                self._withdraw(detector.name, {finding.key for finding in found})
            for finding in found:
                self._add(finding, refresh=detector.refreshes)
                if is_provisional(self._findings[finding.key]):
                    self._provisional[finding.key] = detector.name

    def _withdraw(self, detector: str, seen: set[tuple]) -> None:
        """Drop the provisional findings of ``detector`` that its latest run no longer reports."""
        for key, made_by in list(self._provisional.items()):
            if made_by == detector and key not in seen:
                del self._provisional[key]
                kept = self._findings.get(key)
                if kept is not None and is_provisional(kept):
                    del self._findings[key]

    def _add(self, finding: Finding, refresh: bool = False) -> None:
        """Keep the earliest finding per key; a warning that the same detector later judges a fault (more
        evidence) becomes that fault, from the later check on. ``refresh``: the detector sums up its window,
        its latest finding replaces the old one (confirmed when the old one was)."""
        if self.world_size is not None and finding.rank is None:
            finding.rank = self.rank
        dump = self.dumps.get(finding.step)
        if dump is not None and "batch_dump" not in finding.evidence:
            finding.evidence["batch_dump"] = dump
            finding.message += f" (the step's batch is saved in {dump})"
        old = self._findings.get(finding.key)
        if old is None:
            self._findings[finding.key] = finding
        elif refresh or finding.step < old.step:
            finding.detected_at = old.detected_at
            self._findings[finding.key] = finding
        elif base_severity(finding) == Severity.FAULT and base_severity(old) == Severity.WARNING:
            self._findings[finding.key] = finding

    def job_key(self) -> str | None:
        """Where this run is stored, for the other ranks of a job (the recorder's ``job_key``; None without
        a store)."""
        key = getattr(self.recorder, "job_key", None)
        if key is None:
            return None
        try:
            return key()
        except Exception as exc:
            self.tool_error("store", exc)
            return None

    def join(self, rank: int | None, world_size: int | None, leader: str | None = None) -> None:
        """This process is ``rank`` of a distributed job of ``world_size`` ranks, whose rank 0 stores its
        run at ``leader`` (its ``job_key``): its findings (also those made before it knew) carry its rank,
        and its stored run becomes that rank of the job's run."""
        if (rank, world_size) == (self.rank, self.world_size):
            return
        self.rank, self.world_size = rank, world_size
        join_job = getattr(self.recorder, "join_job", None)
        if join_job is not None and rank is not None and world_size:
            self._guard("store", join_job, leader, rank, world_size)
        for finding in self._findings.values():
            if finding.rank is None:
                finding.rank = rank
        self._findings = {f.key: f for f in self._findings.values()}

    def crashed(self, exc: BaseException) -> None:
        """The training script failed with ``exc`` (the CLI tells; ``watch`` tells its session directly)."""
        self.crash = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        self.terminated(exc)

    def terminated(self, exc: BaseException) -> None:
        """The script was stopped from outside (SIGTERM: a scheduler, or torchrun stopping the other ranks
        when one failed): the probes' crash hooks run (a distributed job names the ranks that are gone), but
        it is no error of the script's."""
        for hook in self.crash_hooks:
            self._guard("crash", hook, exc)

    def add_finding(self, finding: Finding) -> None:
        """A finding a probe made itself (e.g. from an agreement between ranks)."""
        self._add(finding)

    def add_remote(self, findings: list[Finding]) -> None:
        """Findings another rank of the job confirmed (each with its ``rank``): part of this diagnosis."""
        for finding in findings:
            self._findings.setdefault(finding.key, finding)

    def mark_received(self, origins: list[int]) -> None:
        """This rank's NaN/Inf came from other ranks (``origins``: their own loss or forward made it) through
        the gradient all-reduce: its own NaN/Inf findings say so and cast no vote for a cause here."""
        for finding in self._findings.values():
            if (finding.rank == self.rank and finding.symptom == "numerical_error"
                    and "received_from_ranks" not in finding.evidence):
                step = finding.step
                finding.evidence["received_from_ranks"] = list(origins)
                finding.phase = Phase.BACKWARD
                finding.layer = None
                names = ", ".join(str(r) for r in origins)
                finding.message = (f"the gradients of rank {self.rank} became NaN/Inf at step {step} in the "
                                   f"gradient all-reduce: rank {names} produced them (this rank's loss and "
                                   "forward pass were finite)")
                finding.causes = []
        self._findings = {f.key: f for f in self._findings.values()}

    @property
    def findings(self) -> list[Finding]:
        """Findings so far, earliest first (ties: forward order of the layer)."""
        return sorted(  # at one step, a NaN/Inf received from another rank after the one it came from
            self._findings.values(),
            key=lambda f: (f.step, "received_from_ranks" in f.evidence,
                           -1 if f.layer is None else f.layer.index, str(f.symptom)),
        )

    @property
    def fault_confirmed(self) -> bool:
        """A fault finding exists, for this model or another of the run (a warning alone never makes a run
        faulty; see ``severity``)."""
        return any_fault(list(self._findings.values())) or any(m.fault_confirmed for m in self.siblings)

    @property
    def stop_confirmed(self) -> bool:
        """A fault on firm evidence exists (this model or another of the run): provisional findings, and the
        warnings only they escalate, do not stop training."""
        firm = [f for f in self._findings.values() if not is_provisional(f)]
        return any_fault(firm) or any(m.stop_confirmed for m in self.siblings)

    @property
    def every_finding(self) -> list[Finding]:
        """The findings of this model and of the run's other models."""
        return [*self.findings, *(f for m in self.siblings for f in m.findings)]

    # ------------------------------------------------------------------ policy
    def action(self) -> OnFault | None:
        """What the probe must do now: STOP, RAISE, or None (go on). WARN is handled here."""
        if not self._findings:
            return None
        if self.on_fault == OnFault.WARN:
            for finding in self.findings:
                if finding.key not in self._warned:
                    self._warned.add(finding.key)
                    warnings.warn(f"deeplocalize: {finding.message}", RuntimeWarning, stacklevel=3)
            return None
        if self.on_fault in (OnFault.STOP, OnFault.RAISE) and self.stop_confirmed:
            return self.on_fault
        return None

    # ------------------------------------------------------------------ result
    def diagnosis(self) -> Diagnosis:
        """The diagnosis from what has been seen so far (does not run the end-of-run checks); with several
        models, one per model under ``models`` and the worst one's at the top (``Diagnosis.combine``)."""
        self._flush_pending()
        return self._combined([self._own_diagnosis(), *(m._own_diagnosis() for m in self.siblings)])

    @staticmethod
    def _combined(every: list[Diagnosis]) -> Diagnosis:
        """One diagnosis from each model's own (this monitor's first): the first alone, or their union."""
        if len(every) == 1:
            return every[0]
        # a model that never stepped and showed nothing (a module only called, beside the ones trained)
        trained = [d for d in every if d.steps_observed or d.findings] or every
        return Diagnosis.combine(trained) if len(trained) > 1 else dataclasses.replace(trained[0], model=None)

    def _own_diagnosis(self) -> Diagnosis:
        from deeplocalize.diagnose import diagnose

        findings = resolve(self.findings)
        try:
            verdict, causes = diagnose(findings, self.trace, self.model, self.config)
        except Exception as exc:
            self.tool_error("diagnose", exc)
            verdict, causes = (Verdict.FAULTY if any_fault(findings) else Verdict.INCONCLUSIVE), []
        return Diagnosis(
            verdict=verdict,
            framework=self.framework,
            steps_observed=self.trace.steps_observed,
            stopped_early=self.stopped_early,
            layers=list(self.model.layers),
            findings=findings,
            root_causes=causes,
            tool_errors=list(self.tool_errors),
            model=self.model.extra.get("model") if self.siblings or self._is_sibling else None,
            world_size=self.world_size,
        )

    def finish(self, stopped_early: bool | None = None, completed: bool = False) -> Diagnosis:
        """End of training: run the trend checks once more, build, persist and return the diagnosis.

        ``completed``: the training loop ended on its own (not stopped early, not crashed).
        """
        if self.finished is not None:
            return self.finished
        self._flush_pending()
        if stopped_early is not None:
            self.stopped_early = stopped_early
        self.trace.completed = completed and not self.stopped_early
        for monitor in (self, *self.siblings):
            monitor.trace.completed = completed and not self.stopped_early
            if monitor.trace.steps_observed:
                monitor._run("check")
            elif not monitor._preflight_done and monitor.model.layers:
                # no step completed (the script failed in its first step): the pre-flight checks still
                # judge the model, loss and labels that were seen
                monitor._preflight_done = True
                monitor._run("first")
            if monitor.crash is not None:
                for finding in monitor._findings.values():
                    if finding.phase in (Phase.STATIC, Phase.DATA):
                        finding.evidence.setdefault("script_error", monitor.crash)
        self._flush_pending()  # (as ``diagnosis`` does)
        every = [self._own_diagnosis(), *(m._own_diagnosis() for m in self.siblings)]
        result = self._combined(every)
        for sibling, own in zip(self.siblings, every[1:], strict=True):
            if sibling.recorder is not None:
                self._guard("store", sibling.recorder.write_diagnosis, own)
                self._guard("store", sibling.recorder.close)
        if self.recorder is not None:
            self._guard("store", self.recorder.write_diagnosis, result)
            self._guard("store", self.recorder.close)
            result.tool_errors = list(self.tool_errors)  # with the store's own, when it failed just now
        self.finished = result
        return result

    def _flush_pending(self) -> None:
        if self.flush_pending is not None:
            self._guard("probe", self.flush_pending)

    # ------------------------------------------------------------------ containment
    def tool_error(self, where: str, exc: BaseException) -> None:
        """Record an internal error once (by message) and tell the user once on stderr.

        A StoreError is about the place (disk full, read-only, locked), a PartiallyWatchedJobError about how
        the tool was set up, a RankLostError about the job, a CompatError about the installed framework
        (an older torch lacks an API): not bugs, each gets its own line on stderr, without a code location.
        """
        if isinstance(exc, (StoreError, PartiallyWatchedJobError, RankLostError, CompatError)):  # not ours
            text = f"{where}: {exc}"
            if text not in self.tool_errors:
                self.tool_errors.append(text)
                print(f"deeplocalize: {text}", file=sys.stderr)
            return
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        loc = f" ({frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})" if frame else ""
        text = f"{where}: {type(exc).__name__}: {exc}{loc}"
        if text in self.tool_errors:
            return
        self.tool_errors.append(text)
        if len(self.tool_errors) == 1:
            print(f"deeplocalize: internal error, training goes on unaffected: {text}", file=sys.stderr)

    def _guard(self, where: str, fn: Callable[..., object], *args: object) -> None:
        try:
            fn(*args)
        except Exception as exc:
            self.tool_error(where, exc)
