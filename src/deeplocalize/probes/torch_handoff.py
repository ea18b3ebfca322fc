"""Records of one watched model on their way to its monitor, always in step order.

A clean routine record (no statistics, nothing non-finite, no trend check due) cannot produce a finding:
such records are handed over in batches, at most ``MAX_HOLD_S`` apart, so an ordinary step costs no detector
call. A statistics step of a sharded model (FSDP2) waits until every rank has published its shards'
statistics (``torch_shards``), at most ``MAX_WAIT_STEPS`` steps; any record that may matter at once (a
finding may follow) settles it first, and so does ``flush``.
"""

from __future__ import annotations

import time

from deeplocalize.monitor import Monitor
from deeplocalize.probes.torch_shards import MAX_WAIT_STEPS, ShardExchange
from deeplocalize.trace import StepRecord

#: Clean routine records are handed to the monitor in batches at most this far apart (seconds).
MAX_HOLD_S = 1.0


class Handoff:
    """The queue between a ``ModelUnit`` and its ``Monitor`` (see the module docstring)."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.shards: ShardExchange | None = None  # set by the session for a sharded model in a job
        self._held: list[StepRecord] = []
        self._held_since = 0.0
        self._awaiting: StepRecord | None = None  # a statistics step waiting for the other ranks' shards

    def send(self, record: StepRecord, routine: bool, stats: bool) -> None:
        """Hand ``record`` over now or later (``routine``: it cannot produce a finding on its own)."""
        if self._awaiting is not None:
            self._settle(record.step, force=not routine)
        if stats and self.shards is not None and record.all_finite:
            self.shards.publish(record)
            if self.shards.combines:
                self._hold(record)
                self._awaiting = record
                return
        if routine or self._awaiting is not None:
            self._hold(record)
            if self._awaiting is None and time.monotonic() - self._held_since >= MAX_HOLD_S:
                self.flush()
            return
        self.flush()
        self.monitor.record(record)

    def flush(self) -> None:
        """Every held record to the monitor, in order (a waiting statistics step keeps what it has)."""
        if self._awaiting is not None:
            self._settle(self._awaiting.step, force=True)
        held, self._held = self._held, []
        for rec in held:
            self.monitor.record(rec)

    def _hold(self, record: StepRecord) -> None:
        if not self._held:
            self._held_since = time.monotonic()
        self._held.append(record)

    def _settle(self, step: int, force: bool) -> None:
        """Combine the waiting record's shards when every rank has published them; else keep waiting, unless
        ``force`` or it waited ``MAX_WAIT_STEPS`` (its local figures stay)."""
        record, shards = self._awaiting, self.shards
        if record is None or shards is None:
            return
        if shards.ready(record.step):
            shards.combine(record)
        elif not force and step - record.step < MAX_WAIT_STEPS:
            return
        self._awaiting = None
