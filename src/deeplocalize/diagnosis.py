"""Findings, root causes and the Diagnosis: the answer deeplocalize gives, and its JSON contract.

JSON schema ``deeplocalize.diagnosis/1`` (DESIGN.md) is produced by ``Diagnosis.to_dict`` and read back by
``Diagnosis.from_dict``; keep both exactly to the contract.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deeplocalize.model import LayerInfo, LayerRef
from deeplocalize.vocabulary import Category, Phase, Symptom, Verdict

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

    ``step`` is the first step where the symptom held; ``evidence`` holds the numbers behind it (JSON
    values only) and, under "detected_at_step", the step at which the detector confirmed it. ``causes`` are
    the detector's root-cause votes (not part of the JSON finding; they become ``root_causes``).
    """

    symptom: Symptom
    phase: Phase
    layer: LayerRef | None
    step: int
    message: str
    epoch: int = 0
    evidence: dict[str, Any] = field(default_factory=dict)
    causes: list[CauseHint] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, int | None]:
        """Identity for de-duplication: the same symptom at the same place is one finding."""
        return (str(self.symptom), str(self.phase), None if self.layer is None else self.layer.index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "symptom": str(self.symptom),
            "phase": str(self.phase),
            "layer": None if self.layer is None else self.layer.to_dict(),
            "step": int(self.step),
            "epoch": int(self.epoch),
            "message": self.message,
            "evidence": _jsonable(self.evidence),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Finding:
        return cls(
            symptom=Symptom(raw["symptom"]),
            phase=Phase(raw["phase"]),
            layer=_ref(raw.get("layer")),
            step=int(raw["step"]),
            epoch=int(raw.get("epoch", 0)),
            message=raw.get("message", ""),
            evidence=dict(raw.get("evidence") or {}),
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

    @property
    def faulty(self) -> bool:
        return self.verdict == Verdict.FAULTY

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
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def save_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

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
