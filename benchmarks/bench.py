"""``deeplocalize bench``: deeplocalize beside the baselines, on the real-world programs and the bug zoo.

deeplocalize is scored as it ships: each case variant runs once, in a fresh process (forked from a server
that has imported torch and Keras: ``benchmarks.runner``), exactly as ``deeplocalize run`` runs it (default
settings, policy stop), and the diagnosis it reached online is scored.
For the baselines, each variant runs once more with every statistic every step ("continue" policy) and its
records are replayed through each baseline's rules (torch programs also run once under
``torch.autograd.detect_anomaly``). Real-world programs with a Lightning / Hugging Face trainer also run
with deeplocalize's callback.

    deeplocalize bench [--suite zoo|real|transformer|all] [--quick] [--cases ID[,ID]]
                       [--framework torch|keras] [--jobs N] [--timeout S] [--seed N] [--no-baselines]
                       [--output PATH] [--no-docs]
                       [--traces DIR [--reuse]] [--details]
    python -m benchmarks.bench ...

docs/benchmark.md is rewritten from the latest results of both suites (benchmarks/results/): the real-world
test half first, then its calibration half, then the zoo, then the transformer zoo.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.baselines import TOOLS, Tool
from benchmarks.capture import Capture, load
from benchmarks.cases import ROOT, CaseRef, discover, discover_real, quick_subset, select
from benchmarks.replay import NOT_APPLICABLE, Answer, anomaly_answer, online_answer, replay_rules
from benchmarks.report import machine, now, print_tables, versions, write_docs
from benchmarks.runner import JobResult, plan, run_all
from benchmarks.scoring import RunResult, score

RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_OUTPUT = {"zoo": RESULTS / "bench.json", "real": RESULTS / "bench-real.json",
                  "transformer": RESULTS / "bench-transformer.json"}
SUITES = ("real", "zoo", "transformer")
DEFAULT_DOCS = ROOT / "docs" / "benchmark.md"
DEFAULT_TIMEOUT_S = 180.0


def parse_args(argv: Sequence[str], prog: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description="deeplocalize beside the baselines.")
    parser.add_argument("--suite", choices=(*SUITES, "all"), default="zoo",
                        help="the bug zoo (default), the real-world programs, the transformer zoo, or all")
    parser.add_argument("--cases", help="comma-separated case ids")
    parser.add_argument("--framework", choices=("torch", "keras"))
    parser.add_argument("--quick", action="store_true", help="a small fixed subset (CI)")
    parser.add_argument("--jobs", type=int, default=1, help="programs run in parallel (default 1)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per program run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-baselines", action="store_true", help="score deeplocalize only (faster)")
    parser.add_argument("--half", choices=("test", "calibration"),
                        help="real-world programs: only this half (tune on the calibration half only)")
    parser.add_argument("--output", type=Path, help="the JSON results file (default: benchmarks/results/"
                        "bench.json for the zoo, bench-real.json for the real-world programs; with"
                        " --no-baselines bench-<suite>[-<half>]-no-baselines.json)")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmark.md")
    parser.add_argument("--docs-only", action="store_true",
                        help="run nothing: rewrite docs/benchmark.md from the stored results")
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help=argparse.SUPPRESS)
    parser.add_argument("--traces", type=Path, help="keep the captured runs here (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="with --traces: replay captures already there")
    parser.add_argument("--details", action="store_true", help="also print the per-case table")
    parser.add_argument("--zoo", type=Path, action="append", help=argparse.SUPPRESS)  # case dirs (tests)
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # another probe module (tests)
    return parser.parse_args(list(argv))


def choose(args: argparse.Namespace, suite: str) -> list[CaseRef]:
    refs = discover_real() if suite == "real" else [r for r in discover(args.zoo) if r.suite == suite]
    ids = [i.strip() for i in args.cases.split(",") if i.strip()] if args.cases else None
    if ids is not None:
        known = {r.id for r in refs}
        ids = [i for i in ids if i in known] if args.suite == "all" else ids
    refs = select(refs, ids, args.framework)
    if args.half and suite == "real":
        refs = [r for r in refs if r.half == args.half]
    return quick_subset(refs) if args.quick and suite != "real" else refs


def answer(tool: Tool, ref: CaseRef, captures: dict[str, Capture | None]) -> Answer:
    """One tool's answer on one case variant."""
    if ref.case.framework not in tool.frameworks:
        return NOT_APPLICABLE
    if tool.how == "deeplocalize":
        return online_answer(captures.get("online"))
    if tool.how == "callback":
        return online_answer(captures["callback"]) if captures.get("callback") is not None else NOT_APPLICABLE
    if tool.how == "anomaly":
        return anomaly_answer(captures.get("anomaly"))
    probe = captures.get("probe")
    return NOT_APPLICABLE if probe is None else replay_rules(probe, list(tool.detectors))


def evaluate(ref: CaseRef, variant: str, jobs: dict[str, JobResult]) -> RunResult:
    """Every tool's answer on one case variant (``jobs`` by mode)."""
    case = ref.case
    run = RunResult(case.id, case.framework, case.kind, variant, tuple(case.categories), case.layer,
                    suite=ref.suite, half=ref.half,
                    warning_symptoms=tuple(case.symptoms) if case.expect == "warning" else ())
    online = jobs.get("online")
    if online is None or online.path is None:
        run.captured, run.error = False, None if online is None else online.error
        return run
    captures = {mode: load(job.path) if job.path is not None else None for mode, job in jobs.items()}
    main = captures["online"]
    run.steps, run.wall_s, run.error = len(main.records), main.wall_s, main.error
    run.outcome = main.outcome
    for tool in TOOLS:
        run.answers[tool.name] = answer(tool, ref, captures)
        for err in run.answers[tool.name].tool_errors:
            print(f"bench: {tool.name} on {case.id}/{variant}: {err}", file=sys.stderr)
    return run


def groups(results: list[RunResult]) -> dict[str, list[RunResult]]:
    """Results by group, in the order the docs show them: real test half, calibration half, zoo, transformer
    zoo."""
    out = {"test": [r for r in results if r.suite == "real" and r.half == "test"],
           "calibration": [r for r in results if r.suite == "real" and r.half == "calibration"],
           "zoo": [r for r in results if r.suite == "zoo"],
           "transformer": [r for r in results if r.suite == "transformer"]}
    return {name: rows for name, rows in out.items() if rows}


def run_suite(args: argparse.Namespace, prog: str, argv: list[str], suite: str) -> int:
    started = time.perf_counter()
    try:
        refs = choose(args, suite)
    except KeyError as exc:
        print(f"{prog}: {exc.args[0]}", file=sys.stderr)
        return 2
    if not refs:
        print(f"{prog}: no {suite} case selected", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="dl-bench-") as tmp:
        traces = args.traces or Path(tmp)
        jobs = plan(refs, args.seed, baselines=not args.no_baselines)
        print(f"{prog}: {len(refs)} {suite} cases, {len(jobs)} program runs, {args.jobs} at a time",
              file=sys.stderr)
        reuse = args.reuse and args.traces is not None
        done = run_all(jobs, traces, args.timeout, args.jobs, args.probe, reuse,
                       progress=lambda line: print(line, file=sys.stderr, flush=True))
        by_key: dict[tuple[str, str], dict[str, JobResult]] = {}
        for r in done:
            by_key.setdefault((r.job.ref.id, r.job.variant), {})[r.job.mode] = r
        results = [evaluate(ref, v, by_key.get((ref.id, v), {})) for ref in refs for v in ref.case.variants]
    tools = [t.name for t in TOOLS if not (args.no_baselines and t.how in ("rules", "anomaly"))]
    for name, rows in groups(results).items():
        print(f"\n{name}:", file=sys.stderr)
        print_tables(score(rows, tools), rows, tools, details=args.details, meta={t.name: t for t in TOOLS})
    payload = _payload(prog, argv, args, started, results, tools)
    output = args.output or default_output(suite, args.half, args.no_baselines)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    print(f"wrote {output}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "deeplocalize bench") -> int:
    """Entry point of ``deeplocalize bench``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv, prog)
    os.environ.setdefault("KERAS_BACKEND", "torch")
    suites = () if args.docs_only else SUITES if args.suite == "all" else (args.suite,)
    for suite in suites:
        status = run_suite(args, prog, argv, suite)
        if status:
            return status
    if not args.no_docs:
        path = write_docs(args.docs, _latest(), {t.name: t for t in TOOLS})
        print(f"wrote {path}", file=sys.stderr)
    return 0


def default_output(suite: str, half: str | None = None, no_baselines: bool = False) -> Path:
    """Where a run's results go unless ``--output`` says: a run with the baselines replaces the suite's
    file; a ``--no-baselines`` run has its own, so that the baselines' last figures stay."""
    if not no_baselines:
        return DEFAULT_OUTPUT[suite]
    part = f"-{half}" if half and suite == "real" else ""
    return RESULTS / f"bench-{suite}{part}-no-baselines.json"


def _latest() -> list[dict[str, Any]]:
    """Every stored results file docs/benchmark.md is written from (each group's newest run leads)."""
    paths = [*DEFAULT_OUTPUT.values(), *sorted(RESULTS.glob("bench*-no-baselines.json"))]
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths if path.exists()]


def _payload(prog: str, argv: list[str], args: argparse.Namespace, started: float,
             results: list[RunResult], tools: list[str]) -> dict[str, Any]:
    return {
        "schema": "deeplocalize.bench/2",
        "command": shlex.join([*prog.split(), *argv]),
        "date": now(),
        "machine": machine(),
        "versions": versions(),
        "seed": args.seed,
        "wall_s": time.perf_counter() - started,
        "tools": tools,
        "groups": {name: {tool: s.to_dict() for tool, s in score(rows, tools).items()}
                   for name, rows in groups(results).items()},
        "runs": [_clean(r.to_dict()) for r in results],
    }


def _clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become strings."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


if __name__ == "__main__":
    raise SystemExit(main(prog="python -m benchmarks.bench"))
