"""The loss-spike rule, shared by the ``loss_spike`` detector (replayed over a trace's window) and the torch
probe (online, one step at a time, to save the batch of a spike before the update).

A step's loss is a spike when it exceeds both ``mean + spike_z * std`` of the previous ``spike_window``
finite losses (OLMo-core's rule) and ``spike_max_ratio`` times the largest of them (Megatron's rule uses
10x), once at least ``spike_min_history`` previous losses are known. A spike's loss does not join the
window, so the next spike is judged against the run as it was, not against the last spike; unless the loss
stays up for ``spike_recover_steps`` steps in a row: that is its new level, and those losses join.
numpy + stdlib only.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from deeplocalize.config import Config


class OnlineSpikes:
    """The rule one loss at a time, in constant time per step (for a window of constant size)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._window: deque[float] = deque()
        self._sum = 0.0
        self._squares = 0.0
        self._pending: list[float] = []  # the spike losses now going on, not in the window
        self._streak = 0  # steps in a row that were spikes

    @property
    def streak(self) -> int:
        """Steps in a row, up to the last one, that were spikes (0: the last step was none)."""
        return self._streak

    def threshold(self) -> float | None:
        """The loss above which the next step is a spike (None: not judged yet, too few losses)."""
        n = len(self._window)
        if n < self.config.spike_min_history:
            return None
        mean = self._sum / n
        if mean <= 0:
            return None
        std = math.sqrt(max(self._squares / n - mean * mean, 0.0))
        return max(mean + self.config.spike_z * std, self.config.spike_max_ratio * max(self._window))

    def observe(self, loss: float | None) -> bool:
        """Whether ``loss`` is a spike against the losses observed before it."""
        if loss is None or not math.isfinite(loss):
            return False
        limit = self.threshold()
        if limit is not None and loss > limit:
            self._streak += 1
            self._pending.append(loss)
            if len(self._pending) >= self.config.spike_recover_steps:  # the loss's new level
                for value in self._pending:
                    self._add(value)
                self._pending = []
            return True
        self._streak = 0
        self._pending = []
        self._add(loss)
        return False

    def prime(self, losses: np.ndarray) -> None:
        """Take ``losses`` (none of them a spike) into the window without judging them."""
        for value in losses[np.isfinite(losses)][-self.config.spike_window:].tolist():
            self._add(value)

    def _add(self, loss: float) -> None:
        self._window.append(loss)
        self._sum += loss
        self._squares += loss * loss
        if len(self._window) > self.config.spike_window:
            old = self._window.popleft()
            self._sum -= old
            self._squares -= old * old


def spikes_in(losses: np.ndarray, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """(positions of the spikes in ``losses``, oldest first, NaN where unknown; the threshold each step was
    judged against, NaN where not judged), as ``OnlineSpikes`` judges the series. Up to the first spike no
    loss has been kept out of the window, so the thresholds there are computed at once with numpy; only
    from the first spike on is the series walked step by step."""
    values = np.asarray(losses, dtype=np.float64)
    limits = _thresholds_before_any_spike(values, config)
    with np.errstate(invalid="ignore"):
        candidates = np.flatnonzero(values > limits)
    if not candidates.size:
        return candidates, limits
    first = int(candidates[0])
    watch = OnlineSpikes(config)
    watch.prime(values[:first])
    hits = []
    for i in range(first, len(values)):
        limit = watch.threshold()
        limits[i] = np.nan if limit is None else limit
        if watch.observe(float(values[i])):
            hits.append(i)
    return np.array(hits, dtype=np.intp), limits


def _thresholds_before_any_spike(values: np.ndarray, config: Config) -> np.ndarray:
    """Per position, the threshold from the last ``spike_window`` finite values before it (all of them kept
    in the window: exact up to the first spike)."""
    ok = np.isfinite(values)
    finite = values[ok]
    have = np.concatenate(([0], np.cumsum(ok)))[:-1]  # finite values before each position
    total = np.concatenate(([0.0], np.cumsum(finite)))
    squares = np.concatenate(([0.0], np.cumsum(finite * finite)))
    start = have - np.minimum(have, config.spike_window)
    k = np.maximum(have - start, 1)
    mean = (total[have] - total[start]) / k
    var = np.maximum((squares[have] - squares[start]) / k - mean * mean, 0.0)
    padded = np.concatenate((np.full(config.spike_window, -np.inf), finite))
    largest = np.lib.stride_tricks.sliding_window_view(padded, config.spike_window).max(axis=1)[have]
    out = np.maximum(mean + config.spike_z * np.sqrt(var), config.spike_max_ratio * largest)
    out[(have < config.spike_min_history) | ~(mean > 0)] = np.nan
    return out
