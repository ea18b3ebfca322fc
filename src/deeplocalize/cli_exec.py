"""Run training code under deeplocalize's global instrumentation (used by `deeplocalize run` and `demo`).

``execute`` enters the torch and Keras ``instrument`` context managers around one ``Monitor`` (with the
run store as its recorder), calls the target, and turns every way a script can end into an ``Outcome``:
normal end, the policy's ``StopTraining``, ``sys.exit(n)``, an exception (its traceback is printed without
deeplocalize's own frames), Ctrl-C, SIGTERM (``SignalWatch``: raised into the script like Ctrl-C). The
diagnosis is always built and stored.
"""

from __future__ import annotations

import contextlib
import importlib
import runpy
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deeplocalize.diagnosis import Diagnosis
from deeplocalize.errors import DeepLocalizeError, StopTraining
from deeplocalize.model import ModelInfo
from deeplocalize.monitor import Monitor, RunRecorder
from deeplocalize.trace import StepRecord

PROBES = ("deeplocalize.probes.torch", "deeplocalize.probes.keras")
_FRAMEWORK_MODULES = {"torch", "keras", "tensorflow", "jax"}
_PACKAGE_DIR = str(Path(__file__).resolve().parent)


class ToolError(DeepLocalizeError):
    """deeplocalize itself cannot do what was asked (exit status 2)."""


@dataclass
class Outcome:
    """How the target ended and what was diagnosed."""

    diagnosis: Diagnosis
    status: int  # the script's own exit status (0 when it ended normally or was stopped by the policy)
    stopped: bool  # ended by StopTraining (fault policy or --max-steps)
    error: str | None = None  # one line when the script raised
    monitor: Monitor | None = None  # its trace and model feed the HTML / TensorBoard reports
    signal: int | None = None  # the terminating signal received (SIGTERM), if any


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised into the script like Ctrl-C (user code that handles Ctrl-C handles it too)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SignalWatch:
    """Handle SIGTERM (schedulers, ``timeout``) like Ctrl-C for as long as the ``with`` block lasts.

    While ``armed`` (the script is running) the signal raises ``Terminated`` in the main thread; otherwise
    (setting up, diagnosing, printing) it is only remembered in ``signum``, so the diagnosis is still built,
    printed and stored. Outside the main thread (where Python cannot install handlers) it does nothing.
    """

    SIGNALS = (signal.SIGTERM,)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.armed = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalWatch:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
        if self.armed:
            raise Terminated(signum)


@contextlib.contextmanager
def instrumentation(monitor: Monitor, max_steps: int | None = None) -> Iterator[list[str]]:
    """Enter every available probe's global ``instrument``; yields the names of the probes entered.

    A probe whose framework is not installed is skipped; ToolError when none can be entered.
    """
    with contextlib.ExitStack() as stack:
        entered: list[str] = []
        problems: list[str] = []
        for name in PROBES:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name in _FRAMEWORK_MODULES or exc.name == name:
                    problems.append(f"{name.rsplit('.', 1)[-1]}: {exc}")
                    continue
                raise ToolError(f"cannot load {name}: {exc}") from exc
            except Exception as exc:
                raise ToolError(f"cannot load {name}: {type(exc).__name__}: {exc}") from exc
            try:
                manager = module.instrument(monitor, max_steps=max_steps)
                manager.__enter__()
            except Exception as exc:
                raise ToolError(f"cannot start {name}: {type(exc).__name__}: {exc}") from exc
            stack.push(_contained_exit(manager, monitor, name))
            entered.append(name)
        if not entered:
            raise ToolError("no framework probe could start (install torch or keras): " + "; ".join(problems))
        yield entered


def _contained_exit(manager: Any, monitor: Monitor, name: str) -> Callable[..., bool]:
    """The manager's ``__exit__``, with its own errors kept in ``tool_errors`` instead of raised."""

    def exit_(exc_type: Any, exc: Any, tb: Any) -> bool:
        try:
            return bool(manager.__exit__(exc_type, exc, tb))
        except Exception as error:
            monitor.tool_error(f"{name} exit", error)
            return False

    return exit_


class _LiveRecorder:
    """A RunRecorder that passes everything on and refreshes the live status line (at most 5 per second)."""

    def __init__(self, inner: RunRecorder | None, live: Any, monitor_ref: list[Monitor]) -> None:
        self.inner, self.live, self.monitor_ref = inner, live, monitor_ref
        self._last = 0.0

    def write_model(self, model: ModelInfo) -> None:
        if self.inner is not None:
            self.inner.write_model(model)

    def write_step(self, record: StepRecord) -> None:
        if self.inner is not None:
            self.inner.write_step(record)
        now = time.monotonic()
        if self.live is not None and self.monitor_ref and now - self._last >= 0.2:
            self._last = now
            with contextlib.suppress(Exception):  # cosmetic: never let the status line break anything
                self.live.update(self.monitor_ref[0])

    def write_diagnosis(self, diagnosis: Diagnosis) -> None:
        if self.inner is not None:
            self.inner.write_diagnosis(diagnosis)

    def open_model(self, index: int) -> RunRecorder | None:
        opener = getattr(self.inner, "open_model", None)
        return None if opener is None else opener(index)

    def job_key(self) -> str | None:
        key = getattr(self.inner, "job_key", None)
        return None if key is None else key()

    def join_job(self, leader: str | None, rank: int, world_size: int) -> None:
        join = getattr(self.inner, "join_job", None)
        if join is not None:
            join(leader, rank, world_size)

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


def _live_status(enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """``report.live.LiveStatus()`` when available and wanted, else a no-op."""
    if not enabled:
        return contextlib.nullcontext(None)
    try:
        from deeplocalize.report.live import LiveStatus

        return LiveStatus()
    except Exception:
        return contextlib.nullcontext(None)


def execute(
    target: Callable[[], Any],
    make_monitor: Callable[[RunRecorder], Monitor],
    recorder: RunRecorder | None,
    max_steps: int | None = None,
    live: bool = False,
    label: str = "script",
    signals: SignalWatch | None = None,
) -> Outcome:
    """Run ``target`` under instrumentation; build, store and return the diagnosis.

    ``signals``: the caller's SignalWatch (so that a SIGTERM while it prints is remembered too); without
    one, SIGTERM is watched for the duration of this call.
    """
    with contextlib.ExitStack() as stack:
        watch = signals if signals is not None else stack.enter_context(SignalWatch())
        outcome = _execute(target, make_monitor, recorder, max_steps, live, label, watch)
    outcome.signal = watch.signum
    return outcome


def _execute(target: Callable[[], Any], make_monitor: Callable[[RunRecorder], Monitor],
             recorder: RunRecorder | None, max_steps: int | None, live: bool, label: str,
             watch: SignalWatch) -> Outcome:
    monitor_ref: list[Monitor] = []
    with _live_status(live) as status_line:
        monitor = make_monitor(_LiveRecorder(recorder, status_line, monitor_ref))
        monitor_ref.append(monitor)
        status, stopped, error = 0, False, None
        with instrumentation(monitor, max_steps):
            try:
                if watch.signum is not None:  # terminated while setting up: the script never starts
                    raise Terminated(watch.signum)
                watch.armed = True
                try:
                    target()
                finally:
                    watch.armed = False
            except StopTraining:
                stopped = True
            except SystemExit as exc:
                status = exit_status(exc.code)
            except Terminated as exc:
                status, error = 128 + exc.signum, f"terminated ({signal.Signals(exc.signum).name})"
                monitor.terminated(exc)
            except KeyboardInterrupt:
                status, error = 130, "interrupted (Ctrl-C)"
            except Exception as exc:
                status, error = 1, f"{label} raised {type(exc).__name__}: {exc}".splitlines()[0]
                monitor.crashed(exc)
                print_user_traceback(exc)
    if watch.signum is not None and error is None:  # the script handled the signal and ended by itself
        status, error = 128 + watch.signum, f"terminated ({signal.Signals(watch.signum).name})"
    monitor.framework = monitor.model.framework or monitor.framework  # the probe that saw a model
    diagnosis = monitor.finish(stopped_early=stopped or monitor.stopped_early,
                               completed=status == 0 and error is None and not stopped)
    return Outcome(diagnosis=diagnosis, status=status, stopped=stopped, error=error, monitor=monitor)


def run_script(path: Path, args: list[str]) -> Callable[[], None]:
    """A callable running ``path`` as ``__main__`` with ``sys.argv = [path, *args]`` (restored after)."""

    def target() -> None:
        saved_argv, saved_path = sys.argv[:], sys.path[:]
        sys.argv = [str(path), *args]
        sys.path.insert(0, str(path.resolve().parent))
        try:
            runpy.run_path(str(path), run_name="__main__")
        finally:
            sys.argv, sys.path[:] = saved_argv, saved_path

    return target


def exit_status(code: Any) -> int:
    """The process status Python would give ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF if code >= 0 else 1
    print(code, file=sys.stderr)
    return 1


def print_user_traceback(exc: BaseException) -> None:
    """Print the exception's traceback from the first frame outside deeplocalize and runpy."""
    tb = exc.__traceback__
    while tb is not None and _internal(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb, file=sys.stderr)


def _internal(filename: str) -> bool:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return filename.startswith(_PACKAGE_DIR) or name in ("runpy.py", "<frozen runpy>", "contextlib.py")
