"""Check the premise of every zoo case: the buggy variant fails, its fixed twin learns, healthy models learn.

    python -m benchmarks.zoo.premise [--suite zoo|transformer] [--cases ID ...] [--seeds 0 1 2] [--timeout 60]
                                     [--jobs 1] [--out PATH]

Each case runs in a fresh subprocess (KERAS_BACKEND=torch, so Keras and backend state never leak from one case
to the next); each variant/seed gets its own time limit inside that process.

The rules, per seed:
- "learns" (fixed and healthy variants): finite loss and weights, and the metric well above chance:
  accuracy >= chance + 0.4 * (1 - chance) (digits: 0.46, balanced binary: 0.70), R^2 >= 0.5, multi-label
  micro-F1 >= chance + 0.15 (chance = the F1 of predicting every label), a character language model's
  held-out next-character accuracy >= chance + 0.1 (chance = the most frequent character's share: a tiny
  model trained for a few hundred steps on this CPU reaches about chance + 0.2);
- premise "nan": the buggy run's loss or weights become non-finite;
- premise "worse": the buggy run stays finite and its metric is at least 0.15 below its fixed twin's
  (same seed) — accuracy, micro-F1 or R^2 alike;
- premise "spike": the buggy run's loss jumps at least SPIKE_RATIO (2) times the median of the 20 steps
  before it, and its fixed twin's never does (the outcome's "spike").
A case passes when every seed passes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.zoo import registry
from benchmarks.zoo.case import SPIKE_RATIO

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REPORT = {"zoo": Path(__file__).resolve().parent / "premise.md",
                  "transformer": Path(__file__).resolve().parent / "premise-transformer.md"}
WORSE_MARGIN = 0.15
_MARK = "@@premise@@ "  # a line of worker output carrying one run's record
_CASE_MARK = "@@case@@ "  # ... carrying the case's fields


@dataclass
class Run:
    variant: str
    seed: int
    seconds: float
    outcome: dict | None = None  # what run() returned
    error: str | None = None  # exception text or "timeout"


@dataclass
class Result:
    case_id: str
    framework: str
    kind: str
    task: str
    premise: str
    runs: list[Run] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def seconds(self, variant: str) -> float:
        times = [r.seconds for r in self.runs if r.variant == variant]
        return max(times) if times else 0.0

    def metrics(self, variant: str) -> list[float]:
        return [r.outcome["metric"] for r in self.runs if r.variant == variant and r.outcome]


def learned(outcome: dict, task: str) -> bool:
    """Finite, and the metric well above chance (see the module docstring)."""
    if outcome["nan"] or not math.isfinite(outcome["metric"]):
        return False
    metric, chance = outcome["metric"], outcome["chance"]
    if task == "regression":
        return metric >= 0.5
    if task == "multilabel":
        return metric >= chance + 0.15
    if task == "language_model":
        return metric >= chance + 0.1
    return metric >= chance + 0.4 * (1.0 - chance)


def judge(result: Result) -> None:
    """Fill ``result.problems`` from its runs."""
    by_key = {(r.variant, r.seed): r for r in result.runs}
    for run in result.runs:
        if run.error:
            result.problems.append(f"{run.variant} seed {run.seed}: {run.error}")
    for (variant, seed), run in sorted(by_key.items()):
        if run.outcome is None:
            continue
        out = run.outcome
        if variant in ("fixed", "healthy") and not learned(out, result.task):
            result.problems.append(
                f"{variant} seed {seed} does not learn: {out['metric_name']}={out['metric']:.3f} "
                f"(chance {out['chance']:.3f}, nan={out['nan']})"
            )
        if variant == "buggy":
            fixed = by_key.get(("fixed", seed))
            if result.premise == "nan" and not out["nan"]:
                result.problems.append(f"buggy seed {seed} stays finite (premise nan)")
            elif result.premise == "spike":
                _judge_spike(result, seed, out, fixed)
            elif result.premise == "worse":
                if out["nan"]:
                    result.problems.append(f"buggy seed {seed} turns NaN (premise says worse)")
                elif fixed and fixed.outcome and out["metric"] > fixed.outcome["metric"] - WORSE_MARGIN:
                    result.problems.append(
                        f"buggy seed {seed} not clearly worse: {out['metric']:.3f} vs fixed "
                        f"{fixed.outcome['metric']:.3f}"
                    )


def _judge_spike(result: Result, seed: int, buggy: dict, fixed: Run | None) -> None:
    if buggy["nan"] or buggy.get("spike", 0.0) < SPIKE_RATIO:
        jump = buggy.get("spike", 0.0)
        result.problems.append(f"buggy seed {seed} has no loss spike (largest jump {jump:.2f}x)")
    if fixed and fixed.outcome and fixed.outcome.get("spike", 0.0) >= SPIKE_RATIO:
        result.problems.append(f"fixed seed {seed} spikes too ({fixed.outcome['spike']:.2f}x)")


# --- the worker: runs inside the per-case subprocess ------------------------------------------------------


class _TimeoutError(Exception):
    pass


def _on_alarm(signum: int, frame: object) -> None:
    raise _TimeoutError


def _worker(case_id: str, seeds: list[int], timeout: int) -> None:
    (module,) = registry.load_cases([case_id])
    case = module.CASE
    fields = {"framework": case.framework, "kind": case.kind, "task": case.task, "premise": case.premise}
    print(_CASE_MARK + json.dumps(fields), flush=True)
    signal.signal(signal.SIGALRM, _on_alarm)
    for variant in module.CASE.variants:
        for seed in seeds:
            start = time.perf_counter()
            record: dict = {"variant": variant, "seed": seed}
            signal.alarm(timeout)
            try:
                record["outcome"] = module.run(variant, seed)
            except _TimeoutError:
                record["error"] = f"timeout after {timeout} s"
            except Exception as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"[:300]
            finally:
                signal.alarm(0)
            record["seconds"] = time.perf_counter() - start
            print(_MARK + json.dumps(record), flush=True)


# --- the driver -----------------------------------------------------------------------------------------


def _check_case(case_id: str, seeds: tuple[int, ...], timeout: int) -> Result:
    """Run one case in a fresh process (the driver never imports a case module, hence never Keras)."""
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=str(REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    env.setdefault("OMP_NUM_THREADS", "1")  # tiny models; the machine is shared
    command = [
        sys.executable,
        "-m",
        "benchmarks.zoo.premise",
        "--worker",
        case_id,
        "--seeds",
        *map(str, seeds),
        "--timeout",
        str(timeout),
    ]
    budget = timeout * 2 * len(seeds) + 120  # the per-run alarms of at most two variants, plus imports
    try:
        proc = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=budget)
        stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        stdout, stderr, code = exc.stdout or "", "case process timed out", -1
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
    fields = {"framework": "?", "kind": "bug", "task": "?", "premise": "?"}
    runs = []
    for line in stdout.splitlines():
        if line.startswith(_CASE_MARK):
            fields = json.loads(line[len(_CASE_MARK) :])
        elif line.startswith(_MARK):
            r = json.loads(line[len(_MARK) :])
            runs.append(Run(r["variant"], r["seed"], r["seconds"], r.get("outcome"), r.get("error")))
    premise = fields["premise"] if fields["kind"] == "bug" else "-"
    result = Result(case_id, fields["framework"], fields["kind"], fields["task"], premise, runs)
    expected = (2 if fields["kind"] == "bug" else 1) * len(seeds)
    if len(runs) < expected:
        tail = " | ".join((stderr or "").strip().splitlines()[-3:])
        result.problems.append(f"only {len(runs)}/{expected} runs finished (exit {code}): {tail}")
    judge(result)
    return result


def check(
    case_ids: list[str] | None = None,
    seeds: tuple[int, ...] = (0, 1, 2),
    timeout: int = 60,
    progress: bool = False,
    jobs: int = 1,
) -> list[Result]:
    """Run every variant of the given cases (all by default) over ``seeds``; one fresh process per case,
    ``jobs`` cases at a time. Results come back in the order of ``case_ids``."""
    ids = case_ids or registry.case_ids()

    def one(case_id: str) -> Result:
        result = _check_case(case_id, tuple(seeds), timeout)
        if progress:
            print(row(result), flush=True)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, ids))


def _fmt_metrics(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values) if values else "-"


def row(r: Result) -> str:
    status = "PASS" if r.passed else "FAIL"
    if r.kind == "bug":
        cells = [
            r.case_id,
            r.framework,
            r.task,
            r.premise,
            _fmt_metrics(r.metrics("buggy")),
            _fmt_metrics(r.metrics("fixed")),
            f"{r.seconds('buggy'):.1f} / {r.seconds('fixed'):.1f}",
            status,
        ]
    else:
        cells = [
            r.case_id,
            r.framework,
            r.task,
            "-",
            "-",
            _fmt_metrics(r.metrics("healthy")),
            f"{r.seconds('healthy'):.1f}",
            status,
        ]
    return "| " + " | ".join(cells) + " |"


def report(results: list[Result], seeds: tuple[int, ...], wall: float, suite: str = "zoo") -> str:
    bugs = [r for r in results if r.kind == "bug"]
    healthy = [r for r in results if r.kind == "healthy"]
    times = sorted(run.seconds for r in results for run in r.runs)
    lines = [
        "# Bug-zoo premise check" if suite == "zoo" else "# Transformer-zoo premise check",
        "",
        f"Command: `python -m benchmarks.zoo.premise{'' if suite == 'zoo' else ' --suite ' + suite}` "
        f"(seeds {', '.join(map(str, seeds))}); "
        f"{os.cpu_count()} CPU cores, shared (load average at the end: {os.getloadavg()[0]:.1f}); "
        f"wall time {wall / 60:.1f} min.",
        "",
        f"- bug cases: {sum(r.passed for r in bugs)}/{len(bugs)} pass on every seed "
        "(buggy fails: NaN, or metric >= 0.15 below the fixed twin; fixed learns)",
        f"- healthy cases: {sum(r.passed for r in healthy)}/{len(healthy)} learn on every seed",
    ]
    if times:
        lines.append(
            f"- seconds per variant run (training only, process start excluded): median "
            f"{times[len(times) // 2]:.1f}, max {times[-1]:.1f}"
        )
    lines += [
        "",
        "Metric per seed: accuracy (binary, multiclass), micro-F1 (multilabel), R^2 (regression), "
        "held-out next-character accuracy (language_model). "
        "Seconds: the slowest seed.",
        "",
        "| case | fw | task | premise | buggy metric | fixed / healthy metric | seconds | result |",
        "|---|---|---|---|---|---|---|---|",
        *(row(r) for r in results),
    ]
    failing = [r for r in results if not r.passed]
    if failing:
        lines += ["", "## Problems", ""]
        lines += [f"- `{r.case_id}`: {'; '.join(r.problems)}" for r in failing]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("zoo", "transformer"), default="zoo",
                        help="the bug zoo (default) or the transformer zoo")
    parser.add_argument("--cases", nargs="*", help="case ids (default: all of the suite)")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--timeout", type=int, default=60, help="seconds per variant run")
    parser.add_argument("--jobs", type=int, default=1, help="cases run at the same time")
    parser.add_argument("--out", type=Path, help="markdown report path (default: premise.md, "
                        "premise-transformer.md)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, args.seeds, args.timeout)
        return 0
    start = time.perf_counter()
    cases = args.cases or registry.case_ids(args.suite)
    results = check(cases, tuple(args.seeds), args.timeout, progress=True, jobs=args.jobs)
    text = report(results, tuple(args.seeds), time.perf_counter() - start, args.suite)
    (args.out or DEFAULT_REPORT[args.suite]).write_text(text)
    print(text)
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
