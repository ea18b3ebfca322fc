"""Each tool's ``Answer`` on a captured run: deeplocalize's own online diagnosis (``online_answer``), the
baselines' rules replayed step by step through a Monitor over a run with every statistic every step
(``replay_rules``: each stops at its first alarm, as the 2021 DeepLocalize, DeepDiagnosis, AUTOTRAINER and
the Keras callbacks do online), and anomaly mode's own run (``anomaly_answer``).

An ``Answer``: detected or not, when (step, seconds since the program started), the layer it names first,
and its ranked root-cause categories.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.capture import Capture
from deeplocalize.config import Config
from deeplocalize.detectors import Detector
from deeplocalize.diagnosis import Diagnosis, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.monitor import Monitor
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
    #: deeplocalize's warnings on a run it did not call faulty, in order: {"symptom", "step", "layer",
    #: "categories"} (a case whose bug a healthy-looking run survives is scored on them)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Answer:
        return cls(**raw)


NOT_APPLICABLE = Answer(detected=False, applicable=False)


def _model(capture: Capture) -> ModelInfo:
    return capture.model if capture.model is not None else ModelInfo(framework="torch")


def online_answer(capture: Capture | None) -> Answer:
    """deeplocalize's answer: the diagnosis it reached online (``collect --mode online`` or a callback):
    faulty or not, the step its first fault was confirmed, the top cause's layer (else the first fault's),
    its ranked categories."""
    if capture is None or capture.online is None:
        return Answer(False, tool_errors=[] if capture is None or capture.error is None else [capture.error])
    diagnosis = Diagnosis.from_dict(capture.online)
    if diagnosis.verdict != Verdict.FAULTY:
        return Answer(False, tool_errors=list(diagnosis.tool_errors), warnings=[
            {"symptom": str(f.symptom), "step": f.confirmed_at, "layer": f.layer.name if f.layer else None,
             "categories": [f.evidence["advice_category"]] if "advice_category" in f.evidence else []}
            for f in diagnosis.warnings])
    first = (diagnosis.faults or diagnosis.findings or [None])[0]
    step = first.confirmed_at if first is not None else None
    top = diagnosis.root_causes[0] if diagnosis.root_causes else None
    layer = top.layer if top is not None and top.layer is not None else (first.layer if first else None)
    return Answer(
        detected=True, step=step, seconds=capture.seconds_at(step),
        layer=None if layer is None else layer.name,
        categories=[str(c.category) for c in diagnosis.root_causes],
        symptom=None if first is None else str(first.symptom),
        message=None if first is None else first.message,
        tool_errors=list(diagnosis.tool_errors),
    )


def _detected_at(finding: Finding) -> int:
    return finding.confirmed_at


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
