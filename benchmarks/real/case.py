"""A real-world program of the benchmark: its script, its ground truth and where it comes from.

Each program is ``cases/<id>.py`` (the ported script) next to ``cases/<id>.toml`` (what is known about it).
The TOML keys are those of ``benchmarks.zoo.case.Case`` plus the provenance:

    id = "torch_examples_mnist"             # the file stem; prefix = framework
    framework = "torch"                      # "torch" | "keras"
    kind = "healthy"                         # "bug" (buggy + fixed variants) | "healthy"
    arch = "cnn"
    task = "multiclass"                      # binary | multiclass | multilabel | regression | generative
    description = "..."
    source = "https://github.com/pytorch/examples/blob/<commit>/mnist/main.py"
    origin = "pytorch/examples"              # benchmark or collection it was found in, with its own id
    changes = "..."                          # what the port changed (data, epochs, ...)
    fix = "..."                              # bug cases: the fix, as the source gives it
    categories = ["learning_rate"]           # bug cases: every valid root-cause category, most natural 1st
    layer = "fc1"                            # bug cases: the layer the fix changes, or absent
    symptoms = ["numerical_error"]           # informational
    premise = "nan"                          # bug cases: "nan" | "worse"
    callbacks = "lightning"                  # optional: also run with this callback (lightning | huggingface)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from benchmarks.real.split import Half, half
from benchmarks.zoo.case import Case

CASES_DIR = Path(__file__).resolve().parent / "cases"
_REQUIRED = ("id", "framework", "kind", "arch", "task", "description", "source", "origin", "changes")


@dataclass(frozen=True)
class RealCase:
    """One ported program (``case`` holds the fields the scoring shares with the zoo)."""

    case: Case
    script: Path
    source: str
    origin: str
    changes: str
    fix: str = ""
    callbacks: str | None = None

    @property
    def id(self) -> str:
        return self.case.id

    @property
    def half(self) -> Half:
        return half(self.case.id)


class CaseFileError(ValueError):
    """A case's TOML file is incomplete or inconsistent."""


def load(toml_path: Path) -> RealCase:
    """Read one ``<id>.toml`` (and check that its script exists)."""
    raw = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise CaseFileError(f"{toml_path.name}: missing {', '.join(missing)}")
    if raw["id"] != toml_path.stem:
        raise CaseFileError(f"{toml_path.name}: id {raw['id']!r} is not the file name")
    if not raw["id"].startswith(f"{raw['framework']}_"):
        raise CaseFileError(f"{toml_path.name}: the id must start with the framework")
    script = toml_path.with_suffix(".py")
    if not script.exists():
        raise CaseFileError(f"{toml_path.name}: no script {script.name}")
    if raw["kind"] == "bug" and not (raw.get("categories") and raw.get("premise") and raw.get("fix")):
        raise CaseFileError(f"{toml_path.name}: a bug case needs categories, premise and fix")
    case = Case(
        id=raw["id"], framework=raw["framework"], kind=raw["kind"], arch=raw["arch"], task=raw["task"],
        description=raw["description"], categories=tuple(raw.get("categories", ())), layer=raw.get("layer"),
        symptoms=tuple(raw.get("symptoms", ())), premise=raw.get("premise", "worse"),
    )
    return RealCase(case=case, script=script, source=raw["source"], origin=raw["origin"],
                    changes=raw["changes"], fix=raw.get("fix", ""), callbacks=raw.get("callbacks"))


def discover(directory: Path = CASES_DIR) -> list[RealCase]:
    """Every case in ``directory``, sorted by id."""
    return sorted((load(p) for p in directory.glob("*.toml")), key=lambda c: c.id)
