"""Findings, root causes and the Diagnosis: the answer deeplocalize gives, and its JSON contract.

JSON schema ``deeplocalize.diagnosis/1`` (docs/architecture.md) is produced by ``Diagnosis.to_dict`` and
read back by ``Diagnosis.from_dict``; keep both exactly to the contract.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deeplocalize.model import LayerInfo, LayerRef
from deeplocalize.vocabulary import Category, Phase, Severity, Symptom, Verdict

SCHEMA = "deeplocalize.diagnosis/1"


@dataclass
class CauseHint:
    """A detector's vote for a root cause: category, weight in [0, 1], fix text, layer at fault."""

    category: Category
    weight: float
    fix: str
    layer: LayerRef | None = None


@dataclass
class Finding:
    """One symptom seen at one place.

    ``step`` is the first step where the symptom held; ``detected_at`` the step at which the detector
    confirmed it; ``evidence`` holds the numbers behind it (JSON values only). ``severity``: "fault" or
    "warning" (None: the default for the symptom, see ``severity.py``); ``explains``: for a warning made a
    fault, the observed failures it explains. ``causes`` are the detector's root-cause votes (not part of
    the JSON finding; they become ``root_causes``).
    """

    symptom: Symptom
    phase: Phase
    layer: LayerRef | None
    step: int
    message: str
    epoch: int = 0
    evidence: dict[str, Any] = field(default_factory=dict)
    causes: list[CauseHint] = field(default_factory=list)
    severity: Severity | None = None
    detected_at: int | None = None
    explains: tuple[str, ...] = ()
    #: in a distributed job, the rank where it was seen (None: a single process)
    rank: int | None = None

    def __post_init__(self) -> None:
        # older detectors and stored documents keep the confirming step in the evidence
        if "detected_at_step" in self.evidence:
            value = self.evidence.pop("detected_at_step")
            if self.detected_at is None and isinstance(value, (int, float)) and value:
                self.detected_at = int(value)

    @property
    def key(self) -> tuple[str, str, int | None, int | None]:
        """Identity for de-duplication: the same symptom at one place (and rank) is one finding."""
        layer = None if self.layer is None else self.layer.index
        return (str(self.symptom), str(self.phase), layer, self.rank)

    def with_severity(self, severity: Severity) -> Finding:
        """This finding with its severity set by its detector (returns itself)."""
        self.severity = severity
        return self

    @property
    def confirmed_at(self) -> int:
        """The step at which the finding was confirmed (its first step when unknown)."""
        return int(self.detected_at) if self.detected_at else int(self.step)

    @property
    def effective_severity(self) -> Severity:
        from deeplocalize.severity import base_severity

        return base_severity(self)

    def to_dict(self) -> dict[str, Any]:
        evidence = dict(self.evidence)
        evidence["detected_at_step"] = self.confirmed_at
        if self.explains:
            evidence["explains"] = list(self.explains)
        return {
            "symptom": str(self.symptom),
            "phase": str(self.phase),
            "layer": None if self.layer is None else self.layer.to_dict(),
            "step": int(self.step),
            "epoch": int(self.epoch),
            "message": self.message,
            "evidence": _jsonable(evidence),
            "severity": str(self.effective_severity),
            **({"rank": self.rank} if self.rank is not None else {}),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Finding:
        evidence = dict(raw.get("evidence") or {})
        explains = tuple(str(s) for s in evidence.pop("explains", ()) or ())
        severity = raw.get("severity")
        return cls(
            symptom=Symptom(raw["symptom"]),
            phase=Phase(raw["phase"]),
            layer=_ref(raw.get("layer")),
            step=int(raw["step"]),
            epoch=int(raw.get("epoch", 0)),
            message=raw.get("message", ""),
            evidence=evidence,
            severity=Severity(severity) if severity else Severity.FAULT,  # documents before severity: faults
            explains=explains,
            rank=None if raw.get("rank") is None else int(raw["rank"]),
        )


@dataclass
class RootCause:
    """A likely cause with its confidence, a concrete fix, and the findings (indices) that support it."""

    category: Category
    layer: LayerRef | None
    confidence: float
    fix: str
    findings: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": str(self.category),
            "layer": None if self.layer is None else self.layer.to_dict(),
            "confidence": round(float(self.confidence), 3),
            "fix": self.fix,
            "findings": list(self.findings),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RootCause:
        return cls(
            category=Category(raw["category"]),
            layer=_ref(raw.get("layer")),
            confidence=float(raw.get("confidence", 0.0)),
            fix=raw.get("fix", ""),
            findings=[int(i) for i in raw.get("findings", [])],
        )


@dataclass
class Diagnosis:
    """The verdict on a training run, where the fault is, why, and what to change."""

    verdict: Verdict
    framework: str
    steps_observed: int = 0
    stopped_early: bool = False
    layers: list[LayerInfo] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    root_causes: list[RootCause] = field(default_factory=list)
    tool_errors: list[str] = field(default_factory=list)
    #: the model this diagnosis is of, when the run trained several (its class or part name)
    model: str | None = None
    #: one diagnosis per model when the run trained several; the fields above are then the worst one's
    models: list[Diagnosis] = field(default_factory=list)
    #: the number of processes of a distributed job (None: a single process)
    world_size: int | None = None

    @classmethod
    def combine(cls, parts: list[Diagnosis]) -> Diagnosis:
        """One diagnosis for a run of several models: the worst model's fields at the top (a faulty one,
        the earliest fault first; else a healthy one; else inconclusive), every model's under ``models``,
        the steps of all models added up, tool errors of the run."""
        order = {Verdict.FAULTY: 0, Verdict.HEALTHY: 1, Verdict.INCONCLUSIVE: 2}

        def worst(d: Diagnosis) -> tuple[int, int]:
            first = min((f.step for f in d.faults), default=0)
            return order[d.verdict], first

        top = min(parts, key=worst)
        return cls(verdict=top.verdict, framework=top.framework,
                   steps_observed=sum(d.steps_observed for d in parts),
                   stopped_early=any(d.stopped_early for d in parts), layers=list(top.layers),
                   findings=list(top.findings), root_causes=list(top.root_causes),
                   tool_errors=list(top.tool_errors), model=top.model, models=list(parts),
                   world_size=top.world_size)

    @property
    def faulty(self) -> bool:
        return self.verdict == Verdict.FAULTY

    @property
    def faults(self) -> list[Finding]:
        """The findings that make the run faulty (warnings escalated by a failure they explain included)."""
        return [f for f in self.findings if f.effective_severity == Severity.FAULT]

    @property
    def warnings(self) -> list[Finding]:
        """Risks seen in the run that did not (yet) hurt it."""
        return [f for f in self.findings if f.effective_severity == Severity.WARNING]

    @property
    def first_fix(self) -> str | None:
        return self.root_causes[0].fix if self.root_causes else None

    def to_dict(self) -> dict[str, Any]:
        """The ``deeplocalize.diagnosis/1`` document."""
        return {
            "schema": SCHEMA,
            "verdict": str(self.verdict),
            "framework": self.framework,
            "steps_observed": int(self.steps_observed),
            "stopped_early": bool(self.stopped_early),
            "layers": [layer.to_dict() for layer in self.layers],
            "findings": [f.to_dict() for f in self.findings],
            "root_causes": [c.to_dict() for c in self.root_causes],
            "tool_errors": list(self.tool_errors),
            **({"model": self.model} if self.model is not None else {}),
            **({"models": [m.to_dict() for m in self.models]} if self.models else {}),
            **({"world_size": self.world_size} if self.world_size is not None else {}),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def save_json(self, path: str | Path) -> Path:
        """Write the JSON document atomically (a temporary file, then a rename: never a partial file)."""
        from deeplocalize.atomic_io import write_atomic

        return write_atomic(path, self.to_json() + "\n")

    def save_html(self, path: str | Path, trace: Any = None, model: Any = None) -> Path:
        """Write the self-contained HTML report (with the trace, when given, for the plots)."""
        from deeplocalize.report.html import write_html

        return write_html(self, path, trace=trace, model=model)

    def __str__(self) -> str:
        from deeplocalize.report.console import render_text

        return render_text(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Diagnosis:
        """Read a ``deeplocalize.diagnosis/1`` document back."""
        if raw.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document (schema={raw.get('schema')!r})")
        return cls(
            verdict=Verdict(raw["verdict"]),
            framework=raw.get("framework", "torch"),
            steps_observed=int(raw.get("steps_observed", 0)),
            stopped_early=bool(raw.get("stopped_early", False)),
            layers=[
                LayerInfo(index=x["index"], name=x["name"], type=x["type"],
                          activation=x.get("activation"), params=int(x.get("params", 0)))
                for x in raw.get("layers", [])
            ],
            findings=[Finding.from_dict(x) for x in raw.get("findings", [])],
            root_causes=[RootCause.from_dict(x) for x in raw.get("root_causes", [])],
            tool_errors=[str(x) for x in raw.get("tool_errors", [])],
            model=raw.get("model"),
            models=[cls.from_dict(m) for m in raw.get("models", [])],
            world_size=None if raw.get("world_size") is None else int(raw["world_size"]),
        )


def _ref(raw: dict[str, Any] | None) -> LayerRef | None:
    if raw is None:
        return None
    return LayerRef(int(raw["index"]), str(raw["name"]), str(raw["type"]))


def _jsonable(value: Any) -> Any:
    """Make evidence JSON-safe: numpy scalars to Python, NaN/Inf to strings, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            value = str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
