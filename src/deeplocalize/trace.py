"""The trace: per-(layer, channel) time series of summary vectors over a bounded window (numpy only).

A probe produces one ``StepRecord`` per training step (an optimizer step). ``Trace`` keeps the last
``window`` steps in full and a down-sampled history of older steps (``history.StrideHistory``: the stride
doubles when the history is full), so memory stays bounded however long training runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from deeplocalize import summary as S  # noqa: N812 - S.MEAN reads like the stat it names
from deeplocalize.history import StrideHistory
from deeplocalize.vocabulary import Channel

Key = tuple[int, Channel]  # (layer index, channel)
T = TypeVar("T")


@dataclass
class StepRecord:
    """Everything observed in one training step.

    ``step`` counts optimizer steps from 1. ``stats`` maps (layer index, channel) to a summary vector
    (``summary.STATS``); the INPUT channel may carry only ``numel``/``nonfinite``. ``data`` and ``target``
    summarize the batch fed to the model and the labels given to the loss. ``metrics`` holds anything else
    with a name: "accuracy", "val_loss", "val_accuracy", ... (validation values on the step they arrive).
    """

    step: int
    epoch: int = 0
    loss: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    lr: float | None = None
    stats: dict[Key, np.ndarray] = field(default_factory=dict)
    data: np.ndarray | None = None
    target: np.ndarray | None = None
    #: True when the probe proved that no observed tensor, loss or metric held a NaN/Inf (a fast path for
    #: the per-step NaN check); None when it did not say.
    all_finite: bool | None = None
    #: A non-finite step the probe replayed with per-layer counts: "reproduced" (the counts localize it),
    #: "outside_model" (the model's forward was clean and its outputs got a non-finite gradient: the loss
    #: made it) or "not_reproduced" (the replay saw no NaN/Inf); None when not replayed. Not kept in the
    #: window.
    replay: str | None = None

    def get(self, layer: int, channel: Channel) -> np.ndarray | None:
        return self.stats.get((layer, channel))


class _Ring:
    """Fixed-capacity ring of rows of a float matrix, indexed by position in a shared step ring."""

    __slots__ = ("data",)

    def __init__(self, capacity: int, width: int) -> None:
        self.data = np.full((capacity, width), np.nan)


class _Block:
    """The (layer, channel) series: one array [key, position in the step ring, stat], grown by a quarter
    when full, so a step clears its column in one operation whatever the number of keys."""

    __slots__ = ("_rows", "data", "index")

    #: key orders whose rows are remembered (a probe alternates a few: routine and full-statistics steps)
    KEY_ORDERS = 4

    def __init__(self, window: int) -> None:
        self.index: dict[Key, int] = {}
        self.data = np.full((8, window, S.N_STATS), np.nan)
        self._rows: list[tuple[tuple[Key, ...], np.ndarray]] = []  # (a step's keys in its order, their rows)

    def put(self, pos: int, stats: dict[Key, np.ndarray]) -> None:
        """Write one step's vectors at ``pos`` (NaN for the keys it lacks): for a key order seen before, in
        one numpy assignment; otherwise (or for vectors that do not stack) row by row."""
        keys = tuple(stats)
        rows = next((rows for known, rows in self._rows if known == keys), None)  # == is cheaper than hash
        if rows is not None:
            values = _stack(stats.values(), len(keys))
            if values is not None:
                column = self.data[:, pos]
                column.fill(np.nan)
                column[rows] = values
                return
        self._put_rows(pos, stats)
        self._rows = [(keys, np.array([self.index[k] for k in keys], dtype=np.intp)), *self._rows]
        del self._rows[self.KEY_ORDERS :]

    def _put_rows(self, pos: int, stats: dict[Key, np.ndarray]) -> None:
        self._reserve(len(self.index) + sum(1 for key in stats if key not in self.index))
        column = self.data[:, pos]
        column.fill(np.nan)
        for key, vec in stats.items():
            column[self.row(key)] = vec

    def _reserve(self, rows: int) -> None:
        """Room for this many keys (grown by at least a quarter, so a few new keys do not copy each time)."""
        size = len(self.data)
        if rows > size:
            grown = np.full((max(rows, size + max(8, size // 4)), *self.data.shape[1:]), np.nan)
            grown[:size] = self.data
            self.data = grown

    def row(self, key: Key) -> int:
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.index)
            self._reserve(i + 1)
        return i


def _stack(vectors: Iterable[np.ndarray], n: int) -> np.ndarray | None:
    """The n summary vectors as one float64 matrix, or None when they are not n vectors of ``N_STATS``."""
    try:
        values = np.array(list(vectors), dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return values if values.shape == (n, S.N_STATS) else None


class Trace:
    """Bounded per-step series of everything a probe recorded."""

    def __init__(self, window: int = 512, history: int = 512) -> None:
        if window < 2 or history < 2:
            raise ValueError("window and history must be at least 2")
        self.window = window
        self.history_size = history
        self._count = 0  # records appended in total
        self._steps = np.full(window, -1, dtype=np.int64)
        self._epochs = np.zeros(window, dtype=np.int64)
        self._loss = np.full(window, np.nan)
        self._lr = np.full(window, np.nan)
        self._stats = _Block(window)
        self._orders: dict[int | None, np.ndarray] = {}  # ``_order`` per ``last``, valid for one count
        self._derived: dict[Hashable, Any] = {}  # ``derived`` values, valid until the trace changes
        self._sorted: tuple[int, list[Key], list[int]] = (0, [], [])  # (key count, keys, layers)
        self._metrics: dict[str, np.ndarray] = {}
        self._data = _Ring(window, S.N_STATS)
        self._target = _Ring(window, S.N_STATS)
        self._history: StrideHistory[StepRecord] = StrideHistory(history)
        self.first: StepRecord | None = None  # the first record, kept whole (pre-flight evidence)
        #: True once training ended on its own (not stopped by us or --max-steps, not crashed); set by
        #: ``Monitor.finish``. Only then may "the training was too short" be judged.
        self.completed = False
        self.last_record: StepRecord | None = None

    # ------------------------------------------------------------------ writing
    def append(self, record: StepRecord) -> None:
        """Add one step (steps must increase)."""
        pos = self._count % self.window
        self._steps[pos] = record.step
        self._epochs[pos] = record.epoch
        self._loss[pos] = np.nan if record.loss is None else record.loss
        self._lr[pos] = np.nan if record.lr is None else record.lr
        self._stats.put(pos, record.stats)
        for series in self._metrics.values():
            series[pos] = np.nan
        for name, value in record.metrics.items():
            series = self._metrics.get(name)
            if series is None:
                series = self._metrics[name] = np.full(self.window, np.nan)
            series[pos] = np.nan if value is None else value
        self._data.data[pos] = np.nan if record.data is None else record.data
        self._target.data[pos] = np.nan if record.target is None else record.target
        self._count += 1
        self._orders.clear()
        self._derived.clear()
        if self.first is None:
            self.first = record
        self.last_record = record
        self._history.offer(record.step, record)

    def set_metric(self, name: str, value: float) -> None:
        """Attach a metric to the latest step (for values that arrive after the step was recorded)."""
        if not self._count or self.last_record is None:
            return
        self.last_record.metrics[name] = value
        self._derived.clear()
        series = self._metrics.get(name)
        if series is None:
            series = self._metrics[name] = np.full(self.window, np.nan)
        series[(self._count - 1) % self.window] = value

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        """Number of steps currently in the window."""
        return min(self._count, self.window)

    @property
    def steps_observed(self) -> int:
        return self._count

    @property
    def last_step(self) -> int:
        return int(self._steps[(self._count - 1) % self.window]) if self._count else 0

    def _order(self, last: int | None) -> np.ndarray:
        order = self._orders.get(last)
        if order is None:
            n = len(self)
            if last is not None:
                n = min(n, last)
            end = self._count
            order = self._orders[last] = np.arange(end - n, end) % self.window
        return order

    def steps(self, last: int | None = None) -> np.ndarray:
        """Step numbers of the window, oldest first (``last``: only the most recent n)."""
        return self._steps.take(self._order(last))

    def epochs(self, last: int | None = None) -> np.ndarray:
        return self._epochs.take(self._order(last))

    def loss(self, last: int | None = None) -> np.ndarray:
        """Loss per step in the window (NaN where unknown)."""
        return self._loss.take(self._order(last))

    def lr(self, last: int | None = None) -> np.ndarray:
        return self._lr.take(self._order(last))

    def metric(self, name: str, last: int | None = None) -> np.ndarray:
        """A named metric per step (NaN where not reported); all NaN if never seen."""
        series = self._metrics.get(name)
        order = self._order(last)
        return np.full(len(order), np.nan) if series is None else series.take(order)

    @property
    def metric_names(self) -> list[str]:
        return sorted(self._metrics)

    def derived(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, kept until the next ``append``/``set_metric`` (for values derived from the trace
        alone, read by several detectors of one check; the value must not be mutated)."""
        if key in self._derived:
            return self._derived[key]
        value = self._derived[key] = compute()
        return value

    def _sorted_keys(self) -> tuple[list[Key], list[int]]:
        """(keys, layers) sorted, recomputed only when a new key appeared."""
        count, keys, layers = self._sorted
        if count != len(self._stats.index):
            keys = sorted(self._stats.index, key=lambda k: (k[0], str(k[1])))
            layers = sorted({k[0] for k in keys})
            self._sorted = (len(keys), keys, layers)
        return keys, layers

    def keys(self) -> list[Key]:
        """Every (layer, channel) ever recorded."""
        return list(self._sorted_keys()[0])

    def layers(self) -> list[int]:
        return list(self._sorted_keys()[1])

    def has(self, layer: int, channel: Channel) -> bool:
        return (layer, channel) in self._stats.index

    def matrix(self, layer: int, channel: Channel, last: int | None = None) -> np.ndarray:
        """Summary vectors of (layer, channel), one row per step in the window, oldest first."""
        i = self._stats.index.get((layer, channel))
        order = self._order(last)
        if i is None:
            return np.full((len(order), S.N_STATS), np.nan)
        return self._stats.data[i].take(order, axis=0)  # take: ~10x faster than data[i, order]

    def series(self, layer: int, channel: Channel, stat: str, last: int | None = None) -> np.ndarray:
        """One statistic of (layer, channel) per step in the window (NaN where not measured)."""
        i = self._stats.index.get((layer, channel))
        order = self._order(last)
        if i is None:
            return np.full(len(order), np.nan)
        return self._stats.data[i, :, S.IDX[stat]].take(order)

    def data(self, last: int | None = None) -> np.ndarray:
        return self._data.data.take(self._order(last), axis=0)

    def target(self, last: int | None = None) -> np.ndarray:
        return self._target.data.take(self._order(last), axis=0)

    def history(self) -> list[StepRecord]:
        """Down-sampled older records (every ``stride``-th step), oldest first."""
        return self._history.values()

    def records(self) -> Iterator[StepRecord]:
        """Reconstruct the window as StepRecords, oldest first (for the store and reports)."""
        for pos in self._order(None):
            column = self._stats.data[:, pos]
            stats = {key: column[i].copy() for key, i in self._stats.index.items()
                     if not math.isnan(column[i, S.NUMEL])}
            metrics = {name: float(series[pos]) for name, series in self._metrics.items()
                       if not math.isnan(series[pos])}
            loss = float(self._loss[pos])
            lr = float(self._lr[pos])
            data = self._data.data[pos]
            target = self._target.data[pos]
            yield StepRecord(
                step=int(self._steps[pos]),
                epoch=int(self._epochs[pos]),
                loss=None if math.isnan(loss) else loss,
                metrics=metrics,
                lr=None if math.isnan(lr) else lr,
                stats=stats,
                data=None if math.isnan(data[S.NUMEL]) else data.copy(),
                target=None if math.isnan(target[S.NUMEL]) else target.copy(),
            )

    @classmethod
    def from_records(cls, records: list[StepRecord], window: int | None = None) -> Trace:
        """A trace holding these records (e.g. loaded back from the store)."""
        trace = cls(window=max(2, window or len(records) or 2))
        for record in sorted(records, key=lambda r: r.step):
            trace.append(record)
        return trace
