"""Run one case variant once, in this (fresh) process, and pickle what happened.

    python -m benchmarks.collect --module PATH --variant buggy --seed 0 --mode probe --out FILE

``--mode probe``: the program runs under deeplocalize's global instrumentation with every statistic every
step and the "continue" policy; every StepRecord, the model facts and a timestamp per step are kept, to be
replayed offline through each tool's rules. ``--mode anomaly``: the program runs with
``torch.autograd.set_detect_anomaly(True)`` and nothing else; we note whether and when it raised.
The parent (``benchmarks.runner``) sets ``KERAS_BACKEND`` before this process imports anything.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import signal
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.capture import AnomalyResult, Capture, save
from benchmarks.cases import load_module
from deeplocalize.config import Config
from deeplocalize.diagnosis import Diagnosis
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


def collect_probe(module: Any, variant: str, seed: int, timeout: float, probe_name: str | None) -> Capture:
    """Run under the probe (continue policy, all statistics every step) and keep every record."""
    framework = module.CASE.framework
    name = probe_name or f"deeplocalize.probes.{framework}"
    probe = load_module(Path(name)) if name.endswith(".py") else importlib.import_module(name)
    capture = Capture(module.CASE.id, variant, seed, "probe")
    recorder = CaptureRecorder(0.0)
    monitor = Monitor(framework, Config(stats_every=1), on_fault="continue", recorder=recorder)
    t0 = recorder.t0 = time.perf_counter()  # the clock starts with the program (tool imports excluded)
    _arm_timeout(timeout)
    try:
        with probe.instrument(monitor):
            capture.outcome = module.run(variant, seed)
    except RunTimeout:
        capture.error = "timeout"
    except Exception as exc:
        capture.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    finally:
        _disarm()
    capture.wall_s = time.perf_counter() - t0
    diagnosis = monitor.finish(completed=capture.error is None)
    capture.online = recorder.diagnosis or diagnosis.to_dict()
    capture.records, capture.timestamps = recorder.records, recorder.timestamps
    capture.model = recorder.model if recorder.model is not None else monitor.model
    return capture


def collect_anomaly(module: Any, variant: str, seed: int, timeout: float) -> Capture:
    """Run with anomaly mode on; it "fires" when it raises its NaN error."""
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook

    capture = Capture(module.CASE.id, variant, seed, "anomaly")
    steps = [0]

    def count(optimizer: Any, args: Any, kwargs: Any) -> None:
        steps[0] += 1

    handle = register_optimizer_step_post_hook(count)
    t0 = time.perf_counter()
    result = AnomalyResult(fired=False)
    _arm_timeout(timeout)
    try:
        with torch.autograd.detect_anomaly(check_nan=True):
            capture.outcome = module.run(variant, seed)
    except RunTimeout:
        capture.error = "timeout"
    except RuntimeError as exc:
        match = _ANOMALY_RE.search(str(exc))
        if match:
            result = AnomalyResult(True, steps[0] + 1, time.perf_counter() - t0, match.group(1),
                                   str(exc).splitlines()[0])
        else:
            capture.error = f"RuntimeError: {exc}".splitlines()[0]
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
    parser.add_argument("--module", required=True, type=Path, help="file of the case module")
    parser.add_argument("--variant", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=("probe", "anomaly"), default="probe")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--timeout", type=float, default=0.0, help="seconds before the program is cut")
    parser.add_argument("--probe", default=None, help="probe module or .py file")
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "torch")
    module = load_module(args.module)
    if args.mode == "probe":
        capture = collect_probe(module, args.variant, args.seed, args.timeout, args.probe)
    else:
        capture = collect_anomaly(module, args.variant, args.seed, args.timeout)
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
