"""Running the case programs: one fresh subprocess per (case, variant, mode), a few at a time."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from benchmarks.cases import ROOT, CaseRef

#: Seconds granted beyond --timeout for interpreter start, imports and saving before a hard kill.
GRACE_S = 90.0


@dataclass(frozen=True)
class Job:
    ref: CaseRef
    variant: str
    mode: str  # "online" | "probe" | "anomaly" | "callback" (see ``benchmarks.collect``)
    seed: int

    @property
    def name(self) -> str:
        return f"{self.ref.id}.{self.variant}.{self.mode}.s{self.seed}"

    def path(self, traces: Path) -> Path:
        return traces / f"{self.name}.pkl"


@dataclass
class JobResult:
    job: Job
    path: Path | None
    seconds: float
    error: str | None = None


def plan(refs: list[CaseRef], seed: int, baselines: bool = True) -> list[Job]:
    """Per variant: the online run deeplocalize is scored on; with ``baselines``, a probe run (every
    statistic every step) the baselines are replayed on, and an anomaly-mode run of the torch programs;
    a callback run of the real-world programs that have a trainer callback."""
    jobs = []
    for ref in refs:
        for variant in ref.case.variants:
            jobs.append(Job(ref, variant, "online", seed))
            if baselines:
                jobs.append(Job(ref, variant, "probe", seed))
                if ref.case.framework == "torch":
                    jobs.append(Job(ref, variant, "anomaly", seed))
            if ref.callbacks:
                jobs.append(Job(ref, variant, "callback", seed))
    return jobs


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env["KERAS_BACKEND"] = "torch"
    env.setdefault("OMP_NUM_THREADS", str(threads))
    env.setdefault("MKL_NUM_THREADS", str(threads))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def run_job(job: Job, traces: Path, timeout: float, probe: str | None, threads: int) -> JobResult:
    """Run one job in a fresh interpreter (in its own temporary directory: a program may write files);
    its capture is written to ``job.path(traces)``."""
    out = job.path(traces).resolve()
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.collect", "--script" if job.ref.script else "--module",
           str(job.ref.path), "--variant", job.variant, "--seed", str(job.seed), "--mode", job.mode,
           "--out", str(out), "--timeout", str(timeout)]
    if probe:
        cmd += ["--probe", probe]
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="dl-job-") as cwd:
            proc = subprocess.run(cmd, cwd=cwd, env=_env(threads), capture_output=True, text=True,
                                  timeout=timeout + GRACE_S, check=False)
    except subprocess.TimeoutExpired:
        return JobResult(job, None, time.perf_counter() - start, f"killed after {timeout + GRACE_S:.0f} s")
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return JobResult(job, None, seconds, f"runner failed: {tail[0][:200]}")
    return JobResult(job, out, seconds)


def run_all(jobs: list[Job], traces: Path, timeout: float, jobs_n: int = 1, probe: str | None = None,
            reuse: bool = False, progress: Callable[[str], None] | None = None) -> list[JobResult]:
    """Run every job (``jobs_n`` at a time); with ``reuse``, keep captures already in ``traces``."""
    traces.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs_n))
    done: list[JobResult] = []

    def one(job: Job) -> JobResult:
        if reuse and job.path(traces).exists():
            result = JobResult(job, job.path(traces), 0.0)
        else:
            result = run_job(job, traces, timeout, probe, threads)
        if progress is not None:
            status = "ok" if result.error is None else result.error
            progress(f"[{len(done) + 1}/{len(jobs)}] {job.name} {result.seconds:.1f}s {status}")
        done.append(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs_n)) as pool:
        return list(pool.map(one, jobs))
