"""The execution core of `deeplocalize run` with a fake probe: every way a script can end."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from deeplocalize import cli_exec, summary
from deeplocalize.cli_exec import ToolError, execute, run_script
from deeplocalize.errors import StopTraining
from deeplocalize.monitor import Monitor, RunRecorder
from deeplocalize.store import RunStore
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Channel


class FakeProbe:
    """A probe whose training 'steps' are calls to ``step()`` from the script."""

    def __init__(self) -> None:
        self.monitor: Monitor | None = None
        self.max_steps: int | None = None
        self.entered = self.exited = 0
        self.fail_on_exit = False

    @contextlib.contextmanager
    def instrument(self, monitor: Monitor, max_steps: int | None = None) -> Iterator[None]:
        self.monitor, self.max_steps = monitor, max_steps
        self.entered += 1
        try:
            yield
        finally:
            self.exited += 1
            self.monitor = None
            if self.fail_on_exit:
                raise RuntimeError("probe cleanup failed")

    def step(self, value: float = 1.0) -> None:
        monitor = self.monitor
        assert monitor is not None
        n = monitor.trace.steps_observed + 1
        out = np.full((4, 2), value)
        monitor.record(StepRecord(step=n, loss=1.0 / n, stats={(0, Channel.OUTPUT): summary.summarize(out)}))
        if self.max_steps is not None and n >= self.max_steps:
            raise StopTraining


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> FakeProbe:
    fake = FakeProbe()
    module = types.ModuleType("fake_probe")
    module.instrument = fake.instrument
    monkeypatch.setitem(sys.modules, "fake_probe", module)
    monkeypatch.setattr(cli_exec, "PROBES", ("fake_probe", "missing_probe_module"))
    return fake


def monitor_factory(recorder: RunRecorder) -> Monitor:
    return Monitor("torch", on_fault="continue", recorder=recorder, detectors=[])


def go(tmp_path: Path, target: Callable[[], object], max_steps: int | None = None,
       ) -> tuple[cli_exec.Outcome, str]:
    writer = RunStore(tmp_path).create_run("torch")
    return execute(target, monitor_factory, writer, max_steps=max_steps, label="train.py"), writer.run_id


def test_normal_end_is_stored(tmp_path: Path, probe: FakeProbe) -> None:
    outcome, run_id = go(tmp_path, lambda: [probe.step() for _ in range(5)])
    assert (outcome.status, outcome.stopped, outcome.error) == (0, False, None)
    assert outcome.diagnosis.steps_observed == 5 and probe.entered == probe.exited == 1
    stored = RunStore(tmp_path).load_run(run_id)
    assert stored.meta["status"] == "finished" and len(stored.records) == 5


def test_stop_training_ends_the_script_cleanly(tmp_path: Path, probe: FakeProbe) -> None:
    after = []

    def script() -> None:
        for _ in range(100):
            probe.step()
        after.append("not reached")

    outcome, _ = go(tmp_path, script, max_steps=3)
    assert outcome.stopped and outcome.status == 0 and outcome.diagnosis.stopped_early
    assert outcome.diagnosis.steps_observed == 3 and after == []


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (4, 4), ("bye", 1)])
def test_sys_exit_status(tmp_path: Path, probe: FakeProbe, code: object, status: int) -> None:
    def script() -> None:
        probe.step()
        sys.exit(code)

    outcome, _ = go(tmp_path, script)
    assert outcome.status == status and outcome.diagnosis.steps_observed == 1


def test_exception_in_script(tmp_path: Path, probe: FakeProbe, capsys: pytest.CaptureFixture[str]) -> None:
    def script() -> None:
        probe.step()
        raise ValueError("bad batch\nsecond line")

    outcome, run_id = go(tmp_path, script)
    assert outcome.status == 1 and outcome.error == "train.py raised ValueError: bad batch"
    err = capsys.readouterr().err
    assert "ValueError: bad batch" in err and "in script" in err and "deeplocalize/cli_exec.py" not in err
    assert RunStore(tmp_path).load_run(run_id).diagnosis is not None


def test_probe_exit_errors_are_contained(tmp_path: Path, probe: FakeProbe) -> None:
    probe.fail_on_exit = True
    outcome, _ = go(tmp_path, lambda: probe.step())
    assert outcome.status == 0
    assert any("probe cleanup failed" in e for e in outcome.diagnosis.tool_errors)


def test_no_probe_is_a_tool_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_exec, "PROBES", ("missing_probe_module",))
    with pytest.raises(ToolError, match="no framework probe could start"):
        go(tmp_path, lambda: None)


def test_run_script_sets_and_restores_argv(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("import sys, helper\nsys.modules['t_out'] = (sys.argv, __name__, helper.X)\n")
    (tmp_path / "helper.py").write_text("X = 7\n")  # the script's folder is importable, as with `python s.py`
    argv, path = sys.argv[:], sys.path[:]
    try:
        run_script(script, ["--a", "1"])()
        assert sys.modules["t_out"] == ([str(script), "--a", "1"], "__main__", 7)
    finally:
        sys.modules.pop("t_out", None)
        sys.modules.pop("helper", None)
    assert sys.argv == argv and sys.path == path


def _sigterm_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)  # the handler raises in the main thread long before this ends


def test_sigterm_is_raised_into_the_script_like_ctrl_c(tmp_path: Path, probe: FakeProbe) -> None:
    previous = signal.getsignal(signal.SIGTERM)

    def script() -> None:
        for _ in range(3):
            probe.step()
        _sigterm_self()

    outcome, run_id = go(tmp_path, script)
    assert (outcome.status, outcome.error, outcome.signal) == (143, "terminated (SIGTERM)", signal.SIGTERM)
    assert outcome.diagnosis.steps_observed == 3
    assert RunStore(tmp_path).load_run(run_id).diagnosis is not None
    assert signal.getsignal(signal.SIGTERM) == previous  # the handler is put back


def test_sigterm_handled_by_the_script_still_ends_with_143(tmp_path: Path, probe: FakeProbe) -> None:
    def script() -> None:
        probe.step()
        with contextlib.suppress(KeyboardInterrupt):  # e.g. a trainer's graceful shutdown on Ctrl-C
            _sigterm_self()

    outcome, _ = go(tmp_path, script)
    assert (outcome.status, outcome.error) == (143, "terminated (SIGTERM)")


def test_sigterm_outside_the_script_is_remembered_not_raised(tmp_path: Path, probe: FakeProbe) -> None:
    ran = []
    with cli_exec.SignalWatch() as watch:
        os.kill(os.getpid(), signal.SIGTERM)  # while setting up: remembered, the script never starts
        outcome = execute(lambda: ran.append(1), monitor_factory, None, signals=watch)
    assert ran == [] and outcome.status == 143 and outcome.signal == signal.SIGTERM
