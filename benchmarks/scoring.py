"""Scoring: from each tool's answers on each run to the benchmark's metrics.

Per tool, over the runs where it applies: detection rate on buggy variants; rc@1 / rc@3 (a buggy run whose
top / top-3 ranked categories contain any of the case's valid categories; undetected counts as a miss);
layer@1 on buggy runs of cases with a faulty layer (the first layer the tool names equals the truth); false
alarms on fixed twins and on healthy models; median steps and seconds to the verdict over detected buggy runs.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.replay import Answer


@dataclass
class RunResult:
    """One variant of one case: the ground truth and every tool's answer."""

    case_id: str
    framework: str
    kind: str  # "bug" | "healthy"
    variant: str  # "buggy" | "fixed" | "healthy"
    categories: tuple[str, ...] = ()
    layer: str | None = None
    answers: dict[str, Answer] = field(default_factory=dict)
    steps: int = 0
    wall_s: float = 0.0
    error: str | None = None  # the program's own error, "timeout", or why nothing was captured
    captured: bool = True
    outcome: dict[str, Any] | None = None  # what the program itself returned (loss, metric, ...)
    suite: str = "zoo"  # "zoo" | "real" | "transformer"
    #: a bug a healthy-looking run survives (Case.expect == "warning"): a warning with one of these symptoms
    #: on a run not called faulty counts as its detection
    warning_symptoms: tuple[str, ...] = ()
    half: str | None = None  # real-world programs: "test" | "calibration"

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["answers"] = {name: a.to_dict() for name, a in self.answers.items()}
        raw["categories"] = list(self.categories)
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunResult:
        raw = dict(raw)
        raw.pop("replay_matches_online", None)  # results written before the online scoring
        raw["answers"] = {k: Answer.from_dict(v) for k, v in raw.get("answers", {}).items()}
        raw["categories"] = tuple(raw.get("categories", ()))
        raw["warning_symptoms"] = tuple(raw.get("warning_symptoms", ()))
        return cls(**raw)


@dataclass
class Rate:
    hits: int = 0
    total: int = 0

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None

    def add(self, hit: bool) -> None:
        self.hits += int(hit)
        self.total += 1

    def to_dict(self) -> dict[str, Any]:
        return {"hits": self.hits, "total": self.total, "rate": self.value}


@dataclass
class ToolScore:
    detection: Rate = field(default_factory=Rate)
    rc1: Rate = field(default_factory=Rate)
    rc3: Rate = field(default_factory=Rate)
    layer1: Rate = field(default_factory=Rate)
    fa_fixed: Rate = field(default_factory=Rate)
    fa_healthy: Rate = field(default_factory=Rate)
    median_steps: float | None = None
    median_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "detection": self.detection.to_dict(), "rc@1": self.rc1.to_dict(), "rc@3": self.rc3.to_dict(),
            "layer@1": self.layer1.to_dict(), "fa_fixed": self.fa_fixed.to_dict(),
            "fa_healthy": self.fa_healthy.to_dict(), "median_steps": self.median_steps,
            "median_seconds": self.median_seconds,
        }


def category_hit(answer: Answer, truth: tuple[str, ...], k: int) -> bool:
    """A detected answer whose top-k categories contain any valid category."""
    return answer.detected and bool(set(answer.categories[:k]) & set(truth))


def layer_hit(answer: Answer, truth: str | None) -> bool:
    return answer.detected and truth is not None and answer.layer == truth


def scored(answer: Answer, run: RunResult) -> Answer:
    """The answer as scored: for a bug a healthy-looking run survives, its first warning of an expected
    symptom stands for a detection (its step, layer and cause categories)."""
    if answer.detected or not run.warning_symptoms:
        return answer
    for warning in answer.warnings:
        if warning["symptom"] in run.warning_symptoms:
            return Answer(True, step=warning["step"], layer=warning["layer"],
                          categories=list(warning["categories"]), symptom=warning["symptom"])
    return answer


def score_tool(results: list[RunResult], tool: str) -> ToolScore:
    """The metrics of one tool over the runs where it gave an applicable answer."""
    out = ToolScore()
    steps: list[float] = []
    seconds: list[float] = []
    for run in results:
        answer = run.answers.get(tool)
        if not run.captured or answer is None or not answer.applicable:
            continue
        if run.variant == "buggy":
            answer = scored(answer, run)
            out.detection.add(answer.detected)
            out.rc1.add(category_hit(answer, run.categories, 1))
            out.rc3.add(category_hit(answer, run.categories, 3))
            if run.layer is not None:
                out.layer1.add(layer_hit(answer, run.layer))
            if answer.detected and answer.step is not None:
                steps.append(answer.step)
            if answer.detected and answer.seconds is not None:
                seconds.append(answer.seconds)
        elif run.variant == "fixed":
            out.fa_fixed.add(answer.detected)
        else:
            out.fa_healthy.add(answer.detected)
    out.median_steps = statistics.median(steps) if steps else None
    out.median_seconds = statistics.median(seconds) if seconds else None
    return out


def score(results: list[RunResult], tools: list[str]) -> dict[str, ToolScore]:
    return {tool: score_tool(results, tool) for tool in tools}
