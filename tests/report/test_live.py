"""The live status line: content, drawn on a terminal, silent elsewhere."""

from __future__ import annotations

import fcntl
import io
import math
import os
import pty
import select
import struct
import termios
import time

import pytest

from deeplocalize.config import Config
from deeplocalize.detectors import Detector
from deeplocalize.diagnosis import Finding
from deeplocalize.model import LayerRef, ModelInfo
from deeplocalize.monitor import Monitor
from deeplocalize.report.live import LiveStatus, status_text
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Phase, Symptom


def _nan_detector(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    last = trace.last_record
    if last is not None and last.loss is not None and math.isnan(last.loss):
        return [Finding(Symptom.NUMERICAL_ERROR, Phase.FORWARD, LayerRef(2, "fc2", "Linear"), last.step,
                        "NaN")]
    return []


def _monitor(steps: int, nan_from: int | None = None) -> Monitor:
    detectors = [Detector("nan", _nan_detector, "step")]
    monitor = Monitor("torch", Config(), on_fault="continue", detectors=detectors)
    for step in range(1, steps + 1):
        loss = math.nan if nan_from is not None and step >= nan_from else 1.0 / step
        monitor.record(StepRecord(step=step, loss=loss))
    return monitor


def test_status_text() -> None:
    assert status_text(_monitor(3)) == "deeplocalize: step 3 · 3 observed · loss 0.3333 · no findings"
    text = status_text(_monitor(6, nan_from=4))
    assert text.startswith("deeplocalize: step 6 · 6 observed · loss nan")
    assert "1 finding: numerical_error in `fc2` at step 4" in text


def test_quiet_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with LiveStatus(stream=stream) as status:
        assert not status.enabled
        status.update(_monitor(3), force=True)
    assert stream.getvalue() == "" and status.text == ""


def _pty(columns: int = 200) -> tuple[int, int]:
    """A pseudo-terminal of a known width (a fresh one reports 0 columns)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    return master, slave


def _read_until(fd: int, text: str, timeout: float = 5.0) -> str:
    """What the terminal received, read until ``text`` shows up (writes may arrive in several chunks)."""
    out = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            out += os.read(fd, 65536)
    return out.decode("utf-8", "replace")


def test_draws_on_a_terminal_and_clears_the_line(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("rich")
    monkeypatch.setenv("COLUMNS", "200")  # rich prefers it to the terminal's size; other tests may set it
    master, slave = _pty()
    stream = os.fdopen(slave, "w", encoding="utf-8")
    try:
        with LiveStatus(stream=stream, min_interval=0) as status:
            assert status.enabled
            status.update(_monitor(6, nan_from=4))
            stream.flush()
            drawn = _read_until(master, "numerical_error")
        stream.flush()
        assert "step 6" in drawn and "numerical_error" in drawn
        assert not status.enabled
    finally:
        stream.close()
        os.close(master)


def test_redraws_are_throttled() -> None:
    pytest.importorskip("rich")
    master, slave = _pty()
    stream = os.fdopen(slave, "w", encoding="utf-8")
    try:
        with LiveStatus(stream=stream, min_interval=3600) as status:
            status.update(_monitor(2))
            status.update(_monitor(5))  # within the interval: not redrawn
            assert "step 2" in status.text
            status.update(_monitor(5), force=True)
            assert "step 5" in status.text
    finally:
        stream.close()
        os.close(master)
