"""Finding the bug-zoo cases (and test fixtures), selecting subsets, and the --quick set."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from benchmarks.zoo.case import Case

ROOT = Path(__file__).resolve().parent.parent
ZOO_DIR = ROOT / "benchmarks" / "zoo" / "cases"

#: Explicit --quick ids; when empty the quick set is chosen by ``quick_subset`` (a fixed rule).
QUICK_IDS: tuple[str, ...] = ()
QUICK_BUGS_PER_FRAMEWORK = 2
QUICK_HEALTHY_PER_FRAMEWORK = 1


@dataclass(frozen=True)
class CaseRef:
    """A case and its file: a zoo module defining ``run(variant, seed)``, or a real-world program's script
    (``script``: run as ``__main__`` with the variant and seed in its environment)."""

    case: Case
    path: Path
    script: bool = False
    half: str | None = None  # real-world programs: "test" or "calibration"
    callbacks: str | None = None  # real-world programs: also run with this trainer callback

    @property
    def id(self) -> str:
        return self.case.id

    @property
    def suite(self) -> str:
        """"real", or the zoo the case belongs to: "zoo" or "transformer"."""
        return "real" if self.script else self.case.suite


def discover_real() -> list[CaseRef]:
    """Every real-world program (``benchmarks/real/cases``), sorted by id."""
    from benchmarks.real.case import discover as discover_cases

    return [CaseRef(c.case, c.script, script=True, half=c.half, callbacks=c.callbacks)
            for c in discover_cases()]


def load_module(path: Path) -> ModuleType:
    """Import a case module from its file (cached in sys.modules under a private name)."""
    name = f"_bench_case_{path.stem}_{abs(hash(str(path.resolve())))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _from_registry() -> list[CaseRef] | None:
    """Cases from ``benchmarks.zoo.registry.load_cases`` when it exists (modules or Case objects)."""
    try:
        from benchmarks.zoo.registry import load_cases  # type: ignore[import-not-found]
    except ImportError:
        return None
    refs = []
    for item in load_cases():
        module = item if hasattr(item, "CASE") else _module_of(item)
        if module is None or getattr(module, "__file__", None) is None:
            continue
        refs.append(CaseRef(module.CASE, Path(module.__file__)))
    return refs


def _module_of(case: Case) -> ModuleType | None:
    for module in list(sys.modules.values()):
        if getattr(module, "CASE", None) is case:
            return module
    return None


def discover(dirs: list[Path] | None = None) -> list[CaseRef]:
    """Every case: from the given directories (``*.py`` defining CASE), else the zoo registry/directory."""
    if not dirs:
        refs = _from_registry()
        if refs is not None:
            return sorted(refs, key=lambda r: r.id)
        dirs = [ZOO_DIR]
    refs = []
    for directory in dirs:
        for path in sorted(Path(directory).glob("*.py")):
            if path.name.startswith("_"):
                continue
            module = load_module(path)
            if isinstance(getattr(module, "CASE", None), Case) and callable(getattr(module, "run", None)):
                refs.append(CaseRef(module.CASE, path))
    return sorted(refs, key=lambda r: r.id)


def select(refs: list[CaseRef], ids: list[str] | None = None, framework: str | None = None,
           kind: str | None = None) -> list[CaseRef]:
    """Filter by ids (unknown ids raise KeyError), framework and kind."""
    if ids:
        known = {r.id: r for r in refs}
        missing = [i for i in ids if i not in known]
        if missing:
            raise KeyError(f"unknown case id(s): {', '.join(missing)}")
        refs = [known[i] for i in ids]
    return [r for r in refs if (framework is None or r.case.framework == framework)
            and (kind is None or r.case.kind == kind)]


def quick_subset(refs: list[CaseRef]) -> list[CaseRef]:
    """A small fixed set: per framework, bug cases of different primary categories (MLPs first), and a healthy
    model."""
    if QUICK_IDS:
        return select(refs, list(QUICK_IDS))
    chosen: list[CaseRef] = []
    used_categories: set[str] = set()
    refs = sorted(refs, key=lambda r: (r.case.arch != "mlp", r.id))  # small programs first: CI time
    for framework in ("torch", "keras"):
        bugs = [r for r in refs if r.case.framework == framework and r.case.kind == "bug"]
        picked = 0
        for ref in bugs:
            primary = ref.case.categories[0] if ref.case.categories else ""
            if picked < QUICK_BUGS_PER_FRAMEWORK and primary not in used_categories:
                chosen.append(ref)
                used_categories.add(primary)
                picked += 1
        healthy = [r for r in refs if r.case.framework == framework and r.case.kind == "healthy"]
        chosen.extend(healthy[:QUICK_HEALTHY_PER_FRAMEWORK])
    return chosen
