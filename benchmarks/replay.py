"""Evaluate a tool offline on a captured run: replay the records step by step through a Monitor.

Every tool stops at its first alarm, as it would online (deeplocalize with ``on_fault="stop"``; the
2021 DeepLocalize, DeepDiagnosis, AUTOTRAINER and the Keras callbacks all stop training when they fire).
The result is an ``Answer``: detected or not, when (step, seconds since the program started), the layer it
names first, and its ranked root-cause categories.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from benchmarks.capture import Capture
from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.detectors import Detector
from deeplocalize.diagnosis import Diagnosis, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.monitor import Monitor
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Verdict


@dataclass
class Answer:
    """What one tool said about one run, in the terms it is scored on."""

    detected: bool
    step: int | None = None
    seconds: float | None = None
    layer: str | None = None
    categories: list[str] = field(default_factory=list)
    symptom: str | None = None
    message: str | None = None
    applicable: bool = True
    tool_errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Answer:
        return cls(**raw)


NOT_APPLICABLE = Answer(detected=False, applicable=False)


def _model(capture: Capture) -> ModelInfo:
    return capture.model if capture.model is not None else ModelInfo(framework="torch")


def thin(records: list[StepRecord], every: int) -> list[StepRecord]:
    """What a probe with ``stats_every=every`` would have recorded: full statistics on steps 1, 1+every, ...;
    only element and NaN/Inf counts on the others."""
    if every <= 1:
        return records
    out = []
    for rec in records:
        if (rec.step - 1) % every == 0:
            out.append(rec)
            continue
        stats = {}
        for key, vec in rec.stats.items():
            slim = sm.empty()
            slim[sm.NUMEL], slim[sm.NONFINITE] = vec[sm.NUMEL], vec[sm.NONFINITE]
            stats[key] = slim
        out.append(StepRecord(rec.step, rec.epoch, rec.loss, dict(rec.metrics), rec.lr, stats, rec.data,
                              rec.target))
    return out


def replay_deeplocalize(capture: Capture, config: Config | None = None, stop: bool = True
                        ) -> tuple[Answer, Diagnosis]:
    """deeplocalize's own detectors and diagnosis, exactly as online (policy "stop" unless ``stop=False``)."""
    config = config or Config()
    monitor = Monitor(capture.model.framework if capture.model else "torch", config,
                      on_fault="stop" if stop else "continue")
    monitor.set_model(_model(capture))
    stopped_at: int | None = None
    for record in thin(capture.records, config.stats_every):
        monitor.record(record)
        if stop and monitor.action() is not None:
            stopped_at = record.step
            break
    # the zoo programs train to their end unless a tool stops them
    diagnosis = monitor.finish(stopped_early=stopped_at is not None, completed=stopped_at is None)
    detected = diagnosis.verdict == Verdict.FAULTY
    if not detected:
        return Answer(False, tool_errors=list(diagnosis.tool_errors)), diagnosis
    step = stopped_at if stopped_at is not None else (capture.records[-1].step if capture.records else None)
    top = diagnosis.root_causes[0] if diagnosis.root_causes else None
    layer = top.layer if top is not None else None  # the top cause's layer, else the earliest finding's
    if layer is None and diagnosis.findings:
        layer = diagnosis.findings[0].layer
    first = diagnosis.findings[0] if diagnosis.findings else None
    return Answer(
        detected=True,
        step=step,
        seconds=capture.seconds_at(step),
        layer=None if layer is None else layer.name,
        categories=[str(c.category) for c in diagnosis.root_causes],
        symptom=None if first is None else str(first.symptom),
        message=None if first is None else first.message,
        tool_errors=list(diagnosis.tool_errors),
    ), diagnosis


def _detected_at(finding: Finding) -> int:
    value = finding.evidence.get("detected_at_step")
    return int(value) if isinstance(value, (int, np.integer)) else finding.step


def replay_rules(capture: Capture, detectors: list[Detector]) -> Answer:
    """A baseline's rule set: the first finding (by the step it fired) is its answer."""
    n = max(len(capture.records), 2)
    config = Config(window=n, history=n, check_every=10**9)  # whole history; "check" only at the end
    monitor = Monitor(capture.model.framework if capture.model else "torch", config, on_fault="stop",
                      detectors=detectors)
    monitor.set_model(_model(capture))
    for record in capture.records:
        monitor.record(record)
        if monitor.fault_confirmed:
            break
    else:
        if capture.records:
            monitor._run("check")  # end of training: the rules that wait for an epoch end see the last one
    if not monitor.findings:
        return Answer(False, tool_errors=list(monitor.tool_errors))
    first = min(monitor.findings, key=_detected_at)
    step = _detected_at(first)
    ranked = sorted(first.causes, key=lambda c: -c.weight)
    return Answer(
        detected=True,
        step=step,
        seconds=capture.seconds_at(step),
        layer=None if first.layer is None else first.layer.name,
        categories=[str(c.category) for c in ranked],
        symptom=str(first.symptom),
        message=first.message,
        tool_errors=list(monitor.tool_errors),
    )


def anomaly_answer(capture: Capture | None) -> Answer:
    """``torch.autograd.detect_anomaly``: fired when it raised; it names an autograd op, never a module."""
    if capture is None or capture.anomaly is None:
        return NOT_APPLICABLE
    result = capture.anomaly
    if not result.fired:
        return Answer(False)
    return Answer(True, result.step, result.seconds, None, [], "numerical_error",
                  f"anomaly mode: {result.op} returned NaN ({result.message})")


def same_findings(online: dict[str, Any] | None, replayed: Diagnosis) -> bool | None:
    """Whether a full (continue-policy) replay found what the online monitor found: same keys, same steps."""
    if online is None:
        return None

    def keys(raw: list[dict[str, Any]]) -> set[tuple]:
        return {(f["symptom"], f["phase"], None if f["layer"] is None else f["layer"]["index"], f["step"])
                for f in raw}

    return keys(online.get("findings", [])) == keys(replayed.to_dict()["findings"])
