"""Robust statistics of a training curve (loss or accuracy per step), shared by the trend detectors.

A mini-batch curve is noisy, so a trend is the difference of the medians of the first and the last third
of a window, and its noise the standard error of that difference, estimated from step-to-step differences
(robust to the trend itself). numpy + stdlib only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deeplocalize.config import Config
from deeplocalize.trace import Trace

_MAD_TO_SD = 1.4826  # MAD of a normal sample times this estimates its standard deviation
_MEDIAN_SE = 1.2533  # standard error of a median: sqrt(pi/2) * sd / sqrt(n)


@dataclass(frozen=True)
class Curve:
    """The finite values of one curve in the trend window, with their steps and epochs."""

    steps: np.ndarray
    epochs: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Trend:
    """First-third vs last-third medians of a curve, and the standard error of their difference."""

    first: float
    last: float
    se: float
    n: int

    @property
    def change(self) -> float:
        """last - first (negative: the curve went down)."""
        return self.last - self.first


def window_curve(trace: Trace, config: Config, metric: str | None = None) -> Curve:
    """The loss (or a named metric) over the last ``config.curve_window`` steps, finite values only."""
    steps = trace.steps(config.curve_window)
    epochs = trace.epochs(config.curve_window)
    values = trace.loss(config.curve_window) if metric is None else trace.metric(metric, config.curve_window)
    keep = np.isfinite(values)
    return Curve(steps[keep], epochs[keep], values[keep].astype(np.float64))


def noise_sd(values: np.ndarray) -> float:
    """Per-step noise standard deviation from the MAD of first differences (a trend does not inflate it)."""
    if len(values) < 3:
        return 0.0
    diffs = np.diff(values)
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    return _MAD_TO_SD * mad / math.sqrt(2.0)


def trend(values: np.ndarray) -> Trend:
    """Medians of the first and last third and the standard error of their difference."""
    n = len(values)
    k = max(1, n // 3)
    first = float(np.median(values[:k]))
    last = float(np.median(values[-k:]))
    se = _MEDIAN_SE * noise_sd(values) * math.sqrt(2.0 / k)
    return Trend(first, last, se, n)


def initial_level(trace: Trace, metric: str | None = None, count: int = 10) -> float | None:
    """Median of the first ``count`` finite values of the run (down-sampled history, then the window); for
    the loss, at most the step-1 value (measured before the first update)."""
    # the first ``count`` points of the union are among the first ``count`` finite points of each part
    points: dict[int, float] = {}
    for record in trace.history():
        value = record.loss if metric is None else record.metrics.get(metric)
        if value is not None and math.isfinite(value):
            points[record.step] = float(value)
            if len(points) >= count:
                break
    curve = trace.loss() if metric is None else trace.metric(metric)
    first = np.flatnonzero(np.isfinite(curve))[:count]
    for step, value in zip(trace.steps()[first].tolist(), curve[first].tolist(), strict=True):
        points.setdefault(int(step), float(value))
    if not points:
        return None
    first = [points[s] for s in sorted(points)[:count]]
    level = float(np.median(first))
    if metric is None and sorted(points)[0] <= 1:
        # the step-1 loss is measured before any update: an early spike (a far too high learning rate)
        # must not count as the starting level the run later "learned" from
        level = min(level, first[0])
    return level


def lr_warming_up(trace: Trace, config: Config) -> bool:
    """True while the learning rate grew by more than ``warmup_lr_factor`` over the window (a warm-up)."""
    lr = trace.lr(config.curve_window)
    lr = lr[np.isfinite(lr) & (lr > 0)]
    return len(lr) >= 2 and float(lr[-1]) > config.warmup_lr_factor * float(lr.min())


def last_loss_nonfinite(trace: Trace) -> bool:
    """The most recent loss is NaN/Inf: a numerical error, whose detector speaks for it."""
    last = trace.last_record
    return last is not None and last.loss is not None and not math.isfinite(last.loss)


def near(level: float, reference: float, rel_tol: float) -> bool:
    """``level`` within ``rel_tol`` (relative) of ``reference``."""
    return abs(level - reference) <= rel_tol * max(abs(reference), 1e-12)
