"""Check the premise of every real-world program without deeplocalize: buggy fails, fixed and healthy learn.

    python -m benchmarks.real.premise [--cases ID ...] [--seeds 0 1 2] [--timeout 120] [--jobs 1] [--out PATH]

Each variant and seed runs ``python cases/<id>.py`` in a fresh process (``KERAS_BACKEND=torch``) and reads
the outcome the script reports (``_harness.report``). The rules are the bug zoo's
(``benchmarks.zoo.premise``): fixed and healthy runs learn (finite, metric well above chance; for a
"generative" task the metric, e.g. minus the validation loss, beats its chance level by 10% of that
level); a "nan" bug turns non-finite; a "worse" bug stays finite and ends at least 0.15 below its fixed
twin (generative: 10% of the fixed metric).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.real.case import RealCase, discover
from benchmarks.zoo import premise as zoo_premise
from benchmarks.zoo.premise import Result, Run

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REPORT = Path(__file__).resolve().parent / "premise.md"


def variant_env(variant: str, seed: int, threads: int = 1) -> dict[str, str]:
    """The environment a case script runs in (premise check and benchmark alike)."""
    env = dict(os.environ, KERAS_BACKEND="torch", DL_REAL_VARIANT=variant, DL_REAL_SEED=str(seed),
               TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED=str(seed))
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("DL_REAL_OUTCOME", None)
    env.pop("DL_REAL_CALLBACK", None)
    return env


def run_plain(case: RealCase, variant: str, seed: int, timeout: float) -> Run:
    """One variant/seed of a case without any tool; the outcome is what the script reported."""
    with tempfile.TemporaryDirectory(prefix="dl-premise-") as tmp:
        out = Path(tmp) / "outcome.json"
        env = variant_env(variant, seed)
        env["DL_REAL_OUTCOME"] = str(out)
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, str(case.script)], cwd=tmp, env=env, capture_output=True,
                                  text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return Run(variant, seed, time.perf_counter() - start, error=f"timeout after {timeout:.0f} s")
        seconds = time.perf_counter() - start
        if not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            return Run(variant, seed, seconds, error=f"no outcome: {tail[0][:300]}")
        outcome = json.loads(out.read_text())
        outcome["metric"] = float(outcome["metric"])  # "nan" / "-inf" were written as strings
        return Run(variant, seed, seconds, outcome=outcome)


def judge(result: Result) -> None:
    """The zoo's rules, with relative margins for generative tasks (whose metric has no fixed scale)."""
    if result.task != "generative":
        zoo_premise.judge(result)
        return
    by_key = {(r.variant, r.seed): r for r in result.runs}
    for run in result.runs:
        if run.error:
            result.problems.append(f"{run.variant} seed {run.seed}: {run.error}")
        if run.outcome is None:
            continue
        out = run.outcome
        if run.variant in ("fixed", "healthy"):
            chance = out["chance"]
            if out["nan"] or not math.isfinite(out["metric"]) or out["metric"] < chance + 0.1 * abs(chance):
                result.problems.append(f"{run.variant} seed {run.seed} does not learn: "
                                       f"{out['metric_name']}={out['metric']:.3f} (chance {chance:.3f})")
        elif result.premise == "nan" and not out["nan"]:
            result.problems.append(f"buggy seed {run.seed} stays finite (premise nan)")
        elif result.premise == "worse":
            fixed = by_key.get(("fixed", run.seed))
            if out["nan"]:
                result.problems.append(f"buggy seed {run.seed} turns NaN (premise says worse)")
            elif fixed and fixed.outcome:
                good = fixed.outcome["metric"]
                if out["metric"] > good - 0.1 * abs(good):
                    result.problems.append(f"buggy seed {run.seed} not clearly worse: {out['metric']:.3f} "
                                           f"vs fixed {good:.3f}")


def check_case(case: RealCase, seeds: tuple[int, ...], timeout: float) -> Result:
    runs = [run_plain(case, variant, seed, timeout) for variant in case.case.variants for seed in seeds]
    premise = case.case.premise if case.case.kind == "bug" else "-"
    result = Result(case.id, case.case.framework, case.case.kind, case.case.task, premise, runs)
    judge(result)
    return result


def report(results: list[Result], cases: dict[str, RealCase], seeds: tuple[int, ...], wall: float) -> str:
    bugs = [r for r in results if r.kind == "bug"]
    healthy = [r for r in results if r.kind == "healthy"]
    times = sorted(run.seconds for r in results for run in r.runs)
    lines = [
        "# Real-world programs: premise check",
        "",
        f"Command: `python -m benchmarks.real.premise --seeds {' '.join(map(str, seeds))}` "
        "(no deeplocalize); "
        f"{os.cpu_count()} CPU cores, shared; wall time {wall / 60:.1f} min.",
        "",
        f"- bug programs: {sum(r.passed for r in bugs)}/{len(bugs)} pass on every seed "
        "(buggy fails: NaN, or metric clearly below the fixed twin; fixed learns)",
        f"- healthy programs: {sum(r.passed for r in healthy)}/{len(healthy)} learn on every seed",
    ]
    if times:
        lines.append(f"- seconds per run (process included): median {times[len(times) // 2]:.1f}, "
                     f"max {times[-1]:.1f}")
    lines += [
        "",
        "| case | half | fw | task | premise | buggy metric | fixed / healthy metric | seconds | result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        row = zoo_premise.row(r).split(" | ")
        row.insert(1, cases[r.case_id].half)
        lines.append(" | ".join(row))
    failing = [r for r in results if not r.passed]
    if failing:
        lines += ["", "## Problems", ""]
        lines += [f"- `{r.case_id}`: {'; '.join(r.problems)}" for r in failing]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", help="case ids (default: all)")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per variant run")
    parser.add_argument("--jobs", type=int, default=1, help="cases checked at the same time")
    parser.add_argument("--out", type=Path, default=DEFAULT_REPORT, help="markdown report (- for none)")
    args = parser.parse_args(argv)
    cases = {c.id: c for c in discover()}
    ids = args.cases or sorted(cases)
    unknown = [i for i in ids if i not in cases]
    if unknown:
        print(f"unknown case ids: {', '.join(unknown)}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    seeds = tuple(args.seeds)

    def one(case_id: str) -> Result:
        result = check_case(cases[case_id], seeds, args.timeout)
        print(zoo_premise.row(result), flush=True)
        for problem in result.problems:
            print(f"    {problem}", flush=True)
        return result

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, ids))
    text = report(results, cases, seeds, time.perf_counter() - start)
    if str(args.out) != "-":
        args.out.write_text(text)
    print(text)
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
