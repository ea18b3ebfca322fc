"""The hand-off of a unit's records to its monitor: always in step order; routine records batched; a
sharded model's statistics step waits for the other ranks' shards, at most MAX_WAIT_STEPS steps."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from deeplocalize.probes import torch_handoff
from deeplocalize.probes.torch_handoff import Handoff
from deeplocalize.probes.torch_shards import MAX_WAIT_STEPS
from deeplocalize.trace import StepRecord


class _Monitor:
    def __init__(self) -> None:
        self.steps: list[int] = []

    def record(self, record: StepRecord) -> None:
        self.steps.append(record.step)


class _Shards:
    def __init__(self) -> None:
        self.published: list[int] = []
        self.ready_steps: set[int] = set()
        self.combined: list[int] = []
        self.combines = True

    def publish(self, record: StepRecord) -> None:
        self.published.append(record.step)

    def ready(self, step: int) -> bool:
        return step in self.ready_steps

    def combine(self, record: StepRecord) -> None:
        self.combined.append(record.step)


def _rec(step: int) -> StepRecord:
    return StepRecord(step=step, loss=1.0, all_finite=True)


def _sharded(monkeypatch: pytest.MonkeyPatch) -> tuple[_Monitor, _Shards, Handoff]:
    """A hand-off of a sharded model whose first record, a statistics step, waits for the shards."""
    monkeypatch.setattr(torch_handoff, "MAX_HOLD_S", 1e9)
    monitor, shards = _Monitor(), _Shards()
    handoff = Handoff(monitor)  # type: ignore[arg-type]
    handoff.shards = shards  # type: ignore[assignment]
    handoff.send(_rec(1), routine=False, stats=True)
    return monitor, shards, handoff


def test_routine_records_wait_for_the_next_one_that_matters_and_arrive_in_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch_handoff, "MAX_HOLD_S", 1e9)
    monitor = _Monitor()
    handoff = Handoff(monitor)  # type: ignore[arg-type]
    for step in (1, 2, 3):
        handoff.send(_rec(step), routine=True, stats=False)
    assert monitor.steps == []
    handoff.send(_rec(4), routine=False, stats=False)
    assert monitor.steps == [1, 2, 3, 4]


def test_a_sharded_statistics_step_waits_for_every_ranks_shards_then_everything_follows_in_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monitor, shards, handoff = _sharded(monkeypatch)
    handoff.send(_rec(2), routine=True, stats=False)
    assert shards.published == [1] and monitor.steps == [] and shards.combined == []
    shards.ready_steps.add(1)
    handoff.send(_rec(3), routine=False, stats=False)
    assert shards.combined == [1] and monitor.steps == [1, 2, 3]


def test_shards_that_never_come_leave_the_local_figures_after_max_wait_steps(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monitor, shards, handoff = _sharded(monkeypatch)
    for step in range(2, 1 + MAX_WAIT_STEPS):
        handoff.send(_rec(step), routine=True, stats=False)
    assert monitor.steps == []
    handoff.send(_rec(1 + MAX_WAIT_STEPS), routine=True, stats=False)  # waited long enough: let go
    handoff.flush()
    assert shards.combined == [] and monitor.steps == list(range(1, 2 + MAX_WAIT_STEPS))
