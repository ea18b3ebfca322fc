"""The trace: per-(layer, channel) time series of summary vectors over a bounded window (numpy only).

A probe produces one ``StepRecord`` per training step (an optimizer step). ``Trace`` keeps the last
``window`` steps in full and a down-sampled history of older steps (the stride doubles when the history is
full), so memory stays bounded however long training runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from deeplocalize import summary as S  # noqa: N812 - S.MEAN reads like the stat it names
from deeplocalize.vocabulary import Channel

Key = tuple[int, Channel]  # (layer index, channel)


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

    __slots__ = ("data", "index")

    def __init__(self, window: int) -> None:
        self.index: dict[Key, int] = {}
        self.data = np.full((8, window, S.N_STATS), np.nan)

    def row(self, key: Key) -> int:
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.index)
            if i >= len(self.data):
                grown = np.full((len(self.data) + max(8, len(self.data) // 4), *self.data.shape[1:]), np.nan)
                grown[: len(self.data)] = self.data
                self.data = grown
        return i


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
        self._metrics: dict[str, np.ndarray] = {}
        self._data = _Ring(window, S.N_STATS)
        self._target = _Ring(window, S.N_STATS)
        self._history: list[StepRecord] = []
        self._history_stride = 1
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
        block = self._stats
        column = block.data[:, pos]
        column.fill(np.nan)
        for key, vec in record.stats.items():
            i = block.index.get(key)
            if i is None:
                i = block.row(key)
                column = block.data[:, pos]
            column[i] = vec
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
        if self.first is None:
            self.first = record
        self.last_record = record
        if record.step % self._history_stride == 0:
            self._history.append(record)
            if len(self._history) > self.history_size:
                self._history_stride *= 2
                self._history = [r for r in self._history if r.step % self._history_stride == 0]

    def set_metric(self, name: str, value: float) -> None:
        """Attach a metric to the latest step (for values that arrive after the step was recorded)."""
        if not self._count or self.last_record is None:
            return
        self.last_record.metrics[name] = value
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
        return self._steps[self._order(last)]

    def epochs(self, last: int | None = None) -> np.ndarray:
        return self._epochs[self._order(last)]

    def loss(self, last: int | None = None) -> np.ndarray:
        """Loss per step in the window (NaN where unknown)."""
        return self._loss[self._order(last)]

    def lr(self, last: int | None = None) -> np.ndarray:
        return self._lr[self._order(last)]

    def metric(self, name: str, last: int | None = None) -> np.ndarray:
        """A named metric per step (NaN where not reported); all NaN if never seen."""
        series = self._metrics.get(name)
        order = self._order(last)
        return np.full(len(order), np.nan) if series is None else series[order]

    @property
    def metric_names(self) -> list[str]:
        return sorted(self._metrics)

    def keys(self) -> list[Key]:
        """Every (layer, channel) ever recorded."""
        return sorted(self._stats.index, key=lambda k: (k[0], str(k[1])))

    def layers(self) -> list[int]:
        return sorted({k[0] for k in self._stats.index})

    def has(self, layer: int, channel: Channel) -> bool:
        return (layer, channel) in self._stats.index

    def matrix(self, layer: int, channel: Channel, last: int | None = None) -> np.ndarray:
        """Summary vectors of (layer, channel), one row per step in the window, oldest first."""
        i = self._stats.index.get((layer, channel))
        order = self._order(last)
        if i is None:
            return np.full((len(order), S.N_STATS), np.nan)
        return self._stats.data[i, order]

    def series(self, layer: int, channel: Channel, stat: str, last: int | None = None) -> np.ndarray:
        """One statistic of (layer, channel) per step in the window (NaN where not measured)."""
        return self.matrix(layer, channel, last)[:, S.IDX[stat]]

    def data(self, last: int | None = None) -> np.ndarray:
        return self._data.data[self._order(last)]

    def target(self, last: int | None = None) -> np.ndarray:
        return self._target.data[self._order(last)]

    def history(self) -> list[StepRecord]:
        """Down-sampled older records (every ``stride``-th step), oldest first."""
        return list(self._history)

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
