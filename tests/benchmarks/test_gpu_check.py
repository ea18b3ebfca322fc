"""The device checks script, run on the CPU: NaN latency and producer, stop before the faulty update,
bit-identical training (what it checks on a GPU, minus the synchronisation count)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
from benchmarks.overhead import gpu_check


def test_the_device_checks_pass_on_the_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    assert gpu_check.main(["--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "latency 0 steps, producer found" in out and "stopped before the faulty update" in out
    assert "bit-identical" in out and "FAILED" not in out
