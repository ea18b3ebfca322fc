"""Running the case programs: one fresh process per (case, variant, mode), a few at a time.

Each process is forked from a server that has imported torch and Keras once (``multiprocessing``'s
forkserver with those modules preloaded; the server is single-threaded, so the fork is safe): the imports
cost 2 s per run for torch and 6 s for Keras, a fifth of the suite. A forked process has the modules loaded
and nothing else (no model, no seed, no hook); its program's clock starts where it did, but its own
``import torch`` now costs nothing. Where forkserver is not available, each job is a new interpreter.
"""

from __future__ import annotations

import multiprocessing
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


def _collect_args(job: Job, out: Path, timeout: float, probe: str | None) -> list[str]:
    args = ["--script" if job.ref.script else "--module", str(job.ref.path), "--variant", job.variant,
            "--seed", str(job.seed), "--mode", job.mode, "--out", str(out), "--timeout", str(timeout)]
    return args + (["--probe", probe] if probe else [])


_server: multiprocessing.context.BaseContext | None = None


def _forkserver(threads: int) -> multiprocessing.context.BaseContext | None:
    """The forkserver context with torch and Keras preloaded, started once (before the jobs' threads), or
    None where the platform has no forkserver."""
    global _server
    if _server is None and "forkserver" in multiprocessing.get_all_start_methods():
        from multiprocessing import forkserver

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["torch", "keras", "benchmarks.collect"])  # missing ones are skipped
        saved = dict(os.environ)
        os.environ.update(_env(threads))  # the server (so every job) starts with the jobs' environment
        try:
            forkserver.ensure_running()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        _server = context
    return _server


def _forked_job(args: list[str], cwd: str, log: str) -> None:
    """In the forked process: run ``benchmarks.collect`` in ``cwd`` with its output going to ``log``."""
    os.chdir(cwd)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    from benchmarks.collect import main

    code = main(args)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


def _killed(job: Job, start: float, timeout: float) -> JobResult:
    return JobResult(job, None, time.perf_counter() - start, f"killed after {timeout + GRACE_S:.0f} s")


def _failure(text: str, code: int | None) -> str:
    tail = text.strip().splitlines()[-1:] or [f"exit {code}"]
    return f"runner failed: {tail[0][:200]}"


def run_job(job: Job, traces: Path, timeout: float, probe: str | None, threads: int,
            server: multiprocessing.context.BaseContext | None = None) -> JobResult:
    """Run one job in a fresh process, forked from ``server`` (``forkserver``) or else a new interpreter,
    in its own temporary directory (a program may write files); its capture goes to ``job.path(traces)``."""
    out = job.path(traces).resolve()
    out.unlink(missing_ok=True)
    args = _collect_args(job, out, timeout, probe)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dl-job-") as cwd:
        if server is not None:
            log = str(Path(cwd) / "output.log")
            process = server.Process(target=_forked_job, args=(args, cwd, log))
            process.start()
            process.join(timeout + GRACE_S)
            if process.is_alive():
                process.kill()
                process.join()
                return _killed(job, start, timeout)
            code = process.exitcode
            text = Path(log).read_text(errors="replace") if Path(log).exists() else ""
        else:
            try:
                proc = subprocess.run([sys.executable, "-m", "benchmarks.collect", *args], cwd=cwd,
                                      env=_env(threads), capture_output=True, text=True,
                                      timeout=timeout + GRACE_S, check=False)
            except subprocess.TimeoutExpired:
                return _killed(job, start, timeout)
            code, text = proc.returncode, proc.stderr or proc.stdout
    seconds = time.perf_counter() - start
    if code != 0 or not out.exists():
        return JobResult(job, None, seconds, _failure(text, code))
    return JobResult(job, out, seconds)


def run_all(jobs: list[Job], traces: Path, timeout: float, jobs_n: int = 1, probe: str | None = None,
            reuse: bool = False, progress: Callable[[str], None] | None = None) -> list[JobResult]:
    """Run every job (``jobs_n`` at a time); with ``reuse``, keep captures already in ``traces``."""
    traces.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs_n))
    done: list[JobResult] = []
    server = _forkserver(threads) if not reuse or any(not job.path(traces).exists() for job in jobs) else None

    def one(job: Job) -> JobResult:
        if reuse and job.path(traces).exists():
            result = JobResult(job, job.path(traces), 0.0)
        else:
            result = run_job(job, traces, timeout, probe, threads, server)
        if progress is not None:
            status = "ok" if result.error is None else result.error
            progress(f"[{len(done) + 1}/{len(jobs)}] {job.name} {result.seconds:.1f}s {status}")
        done.append(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs_n)) as pool:
        return list(pool.map(one, jobs))
