"""Run one case variant once, in this (fresh) process, and pickle what happened.

    python -m benchmarks.collect (--module PATH | --script PATH) --variant buggy --seed 0 --mode MODE \
        --out FILE

A zoo case is a module with ``run(variant, seed)``; a real-world program is a script run as ``__main__``
with its variant and seed in its environment (``benchmarks/real/cases/_harness.py``). Modes:
- ``online``: exactly what ``deeplocalize run`` does, at default settings with ``--on-fault stop``: the
  diagnosis reached online is what the benchmark scores for deeplocalize (its records and a timestamp per
  step are kept too);
- ``probe``: every statistic every step and the "continue" policy; every StepRecord and the model facts are
  kept, to be replayed offline through each baseline's rules;
- ``anomaly``: the program runs with ``torch.autograd.set_detect_anomaly(True)`` and nothing else; we note
  whether and when it raised;
- ``callback`` (real-world programs with a trainer callback): the program runs plainly with deeplocalize's
  Lightning or Hugging Face callback in its trainer; the diagnosis it wrote is kept.
The parent (``benchmarks.runner``) sets ``KERAS_BACKEND`` before this process imports anything.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import signal
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.capture import AnomalyResult, Capture, save
from benchmarks.cases import load_module
from deeplocalize.cli_exec import run_script
from deeplocalize.config import Config
from deeplocalize.diagnosis import Diagnosis
from deeplocalize.errors import StopTraining
from deeplocalize.model import ModelInfo
from deeplocalize.monitor import Monitor
from deeplocalize.trace import StepRecord

_ANOMALY_RE = re.compile(r"Function '(\w+)' returned nan values")


class RunTimeout(BaseException):
    """Raised inside the program when its time is up, so that what was recorded is still saved."""


class CaptureRecorder:
    """A ``monitor.RunRecorder`` keeping every record (by reference) and its timestamp."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.records: list[StepRecord] = []
        self.timestamps: list[float] = []
        self.model: ModelInfo | None = None
        self.diagnosis: dict[str, Any] | None = None

    def write_model(self, model: ModelInfo) -> None:
        self.model = model

    def write_step(self, record: StepRecord) -> None:
        self.records.append(record)
        self.timestamps.append(time.perf_counter() - self.t0)

    def write_diagnosis(self, diagnosis: Diagnosis) -> None:
        self.diagnosis = diagnosis.to_dict()

    def close(self) -> None:
        pass


def _arm_timeout(seconds: float) -> None:
    def fire(signum: int, frame: Any) -> None:
        raise RunTimeout()

    if seconds > 0 and hasattr(signal, "SIGALRM"):
        signal.signal(signal.SIGALRM, fire)
        signal.setitimer(signal.ITIMER_REAL, seconds)


def _disarm() -> None:
    if hasattr(signal, "SIGALRM"):
        signal.setitimer(signal.ITIMER_REAL, 0)


class Program:
    """What one run executes: a zoo module's ``run`` or a real-world script, and how its outcome is read."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.variant, self.seed = args.variant, args.seed
        if args.module is not None:
            self.module = load_module(args.module)
            self.case_id, self.framework = self.module.CASE.id, self.module.CASE.framework
            self.script: Path | None = None
        else:
            from benchmarks.real.case import load

            case = load(args.script.with_suffix(".toml"))
            self.case_id, self.framework, self.script = case.id, case.case.framework, args.script
        self._tmp = tempfile.mkdtemp(prefix="dl-collect-")
        self.outcome_path = Path(self._tmp) / "outcome.json"

    def target(self) -> Callable[[], Any]:
        if self.script is None:
            return lambda: self.module.run(self.variant, self.seed)
        os.environ.update(DL_REAL_VARIANT=self.variant, DL_REAL_SEED=str(self.seed),
                          DL_REAL_OUTCOME=str(self.outcome_path))
        return run_script(self.script, [])

    def outcome(self, returned: Any) -> Any:
        if self.script is None:
            return returned
        with contextlib.suppress(OSError, ValueError):
            return json.loads(self.outcome_path.read_text())
        return None


def _execute(capture: Capture, program: Program, run: Callable[[], Any], timeout: float) -> Any:
    """Run the program (wrapped by ``run``), catching its end; returns what it returned."""
    returned = None
    _arm_timeout(timeout)
    try:
        returned = run()
    except RunTimeout:
        capture.error = "timeout"
    except StopTraining:
        pass
    except SystemExit as exc:
        if exc.code not in (None, 0):
            capture.error = f"exit {exc.code}"
    except Exception as exc:
        capture.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    finally:
        _disarm()
    return returned


def collect_probe(program: Program, timeout: float, probe_name: str | None) -> Capture:
    """Run under the probe (continue policy, all statistics every step) and keep every record."""
    name = probe_name or f"deeplocalize.probes.{program.framework}"
    probe = load_module(Path(name)) if name.endswith(".py") else importlib.import_module(name)
    capture = Capture(program.case_id, program.variant, program.seed, "probe")
    recorder = CaptureRecorder(0.0)
    monitor = Monitor(program.framework, Config(stats_every=1, stats_every_max=1), on_fault="continue",
                      recorder=recorder)
    target = program.target()
    t0 = recorder.t0 = time.perf_counter()  # the clock starts with the program (tool imports excluded)

    def run() -> Any:
        with probe.instrument(monitor):
            return target()

    capture.outcome = program.outcome(_execute(capture, program, run, timeout))
    capture.wall_s = time.perf_counter() - t0
    diagnosis = monitor.finish(completed=capture.error is None)
    capture.online = recorder.diagnosis or diagnosis.to_dict()
    capture.records, capture.timestamps = recorder.records, recorder.timestamps
    capture.model = recorder.model if recorder.model is not None else monitor.model
    return capture


def collect_online(program: Program, timeout: float) -> Capture:
    """``deeplocalize run`` at default settings (stop policy, every probe): the diagnosis it reaches."""
    from deeplocalize.cli_exec import instrumentation

    capture = Capture(program.case_id, program.variant, program.seed, "online")
    recorder = CaptureRecorder(0.0)
    monitor = Monitor(program.framework, Config(), on_fault="stop", recorder=recorder)
    target = program.target()
    t0 = recorder.t0 = time.perf_counter()

    def run() -> Any:
        with instrumentation(monitor):
            return target()

    capture.outcome = program.outcome(_execute(capture, program, run, timeout))
    capture.wall_s = time.perf_counter() - t0
    diagnosis = monitor.finish(stopped_early=monitor.stopped_early, completed=capture.error is None
                               and not monitor.stopped_early)
    capture.online = diagnosis.to_dict()
    capture.records, capture.timestamps = recorder.records, recorder.timestamps
    capture.model = recorder.model if recorder.model is not None else monitor.model
    return capture


def collect_callback(program: Program, timeout: float) -> Capture:
    """The program with deeplocalize's trainer callback (``_harness.callbacks``): its diagnosis."""
    capture = Capture(program.case_id, program.variant, program.seed, "callback")
    report = Path(program._tmp) / "callback.json"
    os.environ.update(DL_REAL_CALLBACK="1", DL_REAL_CALLBACK_JSON=str(report))
    t0 = time.perf_counter()
    capture.outcome = program.outcome(_execute(capture, program, program.target(), timeout))
    capture.wall_s = time.perf_counter() - t0
    with contextlib.suppress(OSError, ValueError):
        capture.online = json.loads(report.read_text())
    return capture


def collect_anomaly(program: Program, timeout: float) -> Capture:
    """Run with anomaly mode on; it "fires" when it raises its NaN error."""
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook

    capture = Capture(program.case_id, program.variant, program.seed, "anomaly")
    steps = [0]

    def count(optimizer: Any, args: Any, kwargs: Any) -> None:
        steps[0] += 1

    handle = register_optimizer_step_post_hook(count)
    t0 = time.perf_counter()
    result = AnomalyResult(fired=False)
    target = program.target()
    _arm_timeout(timeout)
    try:
        with torch.autograd.detect_anomaly(check_nan=True):
            capture.outcome = program.outcome(target())
    except RunTimeout:
        capture.error = "timeout"
    except RuntimeError as exc:
        match = _ANOMALY_RE.search(str(exc))
        if match:
            result = AnomalyResult(True, steps[0] + 1, time.perf_counter() - t0, match.group(1),
                                   str(exc).splitlines()[0])
        else:
            capture.error = f"RuntimeError: {exc}".splitlines()[0]
    except SystemExit as exc:
        if exc.code not in (None, 0):
            capture.error = f"exit {exc.code}"
    except Exception as exc:
        capture.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    finally:
        _disarm()
        handle.remove()
    capture.wall_s = time.perf_counter() - t0
    capture.anomaly = result
    return capture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--module", type=Path, help="file of a zoo case module")
    where.add_argument("--script", type=Path, help="a real-world program's script")
    parser.add_argument("--variant", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=("online", "probe", "anomaly", "callback"), default="online")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--timeout", type=float, default=0.0, help="seconds before the program is cut")
    parser.add_argument("--probe", default=None, help="probe module or .py file (probe mode)")
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "torch")
    program = Program(args)
    if args.mode == "probe":
        capture = collect_probe(program, args.timeout, args.probe)
    elif args.mode == "online":
        capture = collect_online(program, args.timeout)
    elif args.mode == "callback":
        capture = collect_callback(program, args.timeout)
    else:
        capture = collect_anomaly(program, args.timeout)
    with contextlib.suppress(Exception):
        capture.outcome = _plain(capture.outcome)
    save(capture, args.out)
    return 0


def _plain(value: Any) -> Any:
    """Outcome dicts as plain JSON-able Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


if __name__ == "__main__":
    raise SystemExit(main())
