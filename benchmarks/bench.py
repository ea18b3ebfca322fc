"""``deeplocalize bench``: the bug-zoo evaluation of deeplocalize beside the baselines.

Each case variant runs once, in a fresh subprocess, under deeplocalize's probes with every statistic every
step ("continue" policy); its records are then replayed offline through every tool's rules, so all tools
are judged on the very same run (torch programs also run once under ``torch.autograd.detect_anomaly``).

    deeplocalize bench [--quick] [--cases ID[,ID]] [--framework torch|keras] [--jobs N] [--timeout S]
                       [--seed N] [--output PATH] [--no-docs] [--traces DIR [--reuse]] [--details]
    python -m benchmarks.bench ...
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

from benchmarks.baselines import TOOLS, Tool, tool_names
from benchmarks.capture import Capture, load
from benchmarks.cases import ROOT, CaseRef, discover, quick_subset, select
from benchmarks.replay import (
    NOT_APPLICABLE,
    Answer,
    anomaly_answer,
    replay_deeplocalize,
    replay_rules,
    same_findings,
)
from benchmarks.report import machine, now, print_tables, versions, write_docs
from benchmarks.runner import JobResult, plan, run_all
from benchmarks.scoring import RunResult, score

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "bench.json"
DEFAULT_DOCS = ROOT / "docs" / "benchmark.md"
DEFAULT_TIMEOUT_S = 180.0


def parse_args(argv: Sequence[str], prog: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description="The bug-zoo evaluation.")
    parser.add_argument("--cases", help="comma-separated case ids")
    parser.add_argument("--framework", choices=("torch", "keras"))
    parser.add_argument("--quick", action="store_true", help="a small fixed subset (CI)")
    parser.add_argument("--jobs", type=int, default=1, help="programs run in parallel (default 1)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per program run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the JSON results file")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmark.md")
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help=argparse.SUPPRESS)
    parser.add_argument("--traces", type=Path, help="keep the captured runs here (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="with --traces: replay captures already there")
    parser.add_argument("--details", action="store_true", help="also print the per-case table")
    parser.add_argument("--zoo", type=Path, action="append", help=argparse.SUPPRESS)  # case dirs (tests)
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # another probe module (tests)
    return parser.parse_args(list(argv))


def choose(args: argparse.Namespace) -> list[CaseRef]:
    refs = discover(args.zoo)
    ids = [i.strip() for i in args.cases.split(",") if i.strip()] if args.cases else None
    refs = select(refs, ids, args.framework)
    return quick_subset(refs) if args.quick else refs


def answer(tool: Tool, framework: str, capture: Capture, anomaly: Capture | None) -> Answer:
    """One tool's answer on one captured run."""
    if framework not in tool.frameworks:
        return NOT_APPLICABLE
    if tool.how == "deeplocalize":
        return replay_deeplocalize(capture)[0]
    if tool.how == "anomaly":
        return anomaly_answer(anomaly)
    return replay_rules(capture, list(tool.detectors))


def evaluate(ref: CaseRef, variant: str, probe: JobResult, anomaly: JobResult | None) -> RunResult:
    """Every tool's answer on one case variant."""
    case = ref.case
    run = RunResult(case.id, case.framework, case.kind, variant, tuple(case.categories), case.layer)
    if probe.path is None:
        run.captured, run.error = False, probe.error
        return run
    capture = load(probe.path)
    anomaly_capture = load(anomaly.path) if anomaly is not None and anomaly.path is not None else None
    run.steps, run.wall_s, run.error = len(capture.records), capture.wall_s, capture.error
    run.outcome = capture.outcome
    for tool in TOOLS:
        run.answers[tool.name] = answer(tool, case.framework, capture, anomaly_capture)
        for err in run.answers[tool.name].tool_errors:
            print(f"bench: {tool.name} on {case.id}/{variant}: {err}", file=sys.stderr)
    run.replay_matches_online = same_findings(capture.online, replay_deeplocalize(capture, stop=False)[1])
    return run


def main(argv: Sequence[str] | None = None, prog: str = "deeplocalize bench") -> int:
    """Entry point of ``deeplocalize bench``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv, prog)
    os.environ.setdefault("KERAS_BACKEND", "torch")
    started = time.perf_counter()
    try:
        refs = choose(args)
    except KeyError as exc:
        print(f"{prog}: {exc.args[0]}", file=sys.stderr)
        return 2
    if not refs:
        print(f"{prog}: no case selected", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="dl-bench-") as tmp:
        traces = args.traces or Path(tmp)
        jobs = plan(refs, args.seed)
        print(f"{prog}: {len(refs)} cases, {len(jobs)} program runs, {args.jobs} at a time", file=sys.stderr)
        reuse = args.reuse and args.traces is not None
        done = run_all(jobs, traces, args.timeout, args.jobs, args.probe, reuse,
                       progress=lambda line: print(line, file=sys.stderr, flush=True))
        by_key = {(r.job.ref.id, r.job.variant, r.job.mode): r for r in done}
        results = [evaluate(ref, v, by_key[(ref.id, v, "probe")], by_key.get((ref.id, v, "anomaly")))
                   for ref in refs for v in ref.case.variants]
    tools = tool_names()
    scores = score(results, tools)
    print_tables(scores, results, tools, details=args.details)
    payload = _payload(prog, argv, args, started, scores, results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    if not args.no_docs:
        path = write_docs(args.docs, payload, scores, results, tools, {t.name: t.description for t in TOOLS})
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _payload(prog: str, argv: list[str], args: argparse.Namespace, started: float, scores: dict[str, Any],
             results: list[RunResult]) -> dict[str, Any]:
    return {
        "schema": "deeplocalize.bench/1",
        "command": shlex.join([*prog.split(), *argv]),
        "date": now(),
        "machine": machine(),
        "versions": versions(),
        "seed": args.seed,
        "wall_s": time.perf_counter() - started,
        "tools": {name: s.to_dict() for name, s in scores.items()},
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
