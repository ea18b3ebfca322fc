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
from deeplocalize.diagnosis import Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Severity

_MAD_TO_SD = 1.4826  # MAD of a normal sample times this estimates its standard deviation
_MEDIAN_SE = 1.2533  # standard error of a median: sqrt(pi/2) * sd / sqrt(n)
_NEAR_PEAK = 0.9  # a learning rate at least this share of the window's peak is still warming up


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


def block_size(model: ModelInfo, config: Config) -> int:
    """Steps averaged into one point of a curve: with batches smaller than ``curve_min_batch`` samples, one
    step's loss or accuracy is mostly noise (an accuracy over one sample is 0 or 1), so consecutive steps
    are averaged until a point covers that many samples."""
    batch = model.batch_size or (model.data.x_shape[0] if model.data is not None and model.data.x_shape
                                 else None)
    if not batch or batch >= config.curve_min_batch:
        return 1
    return math.ceil(config.curve_min_batch / batch)


def window_curve(trace: Trace, config: Config, metric: str | None = None, block: int = 1) -> Curve:
    """The loss (or a named metric) over the last ``config.curve_window`` points, finite values only; with
    ``block`` > 1, each point is the mean of ``block`` consecutive steps (``block_size``)."""
    window = config.curve_window * block
    steps = trace.steps(window)
    epochs = trace.epochs(window)
    values = trace.loss(window) if metric is None else trace.metric(metric, window)
    keep = np.isfinite(values)
    steps, epochs, values = steps[keep], epochs[keep], values[keep].astype(np.float64)
    if block > 1:
        n = len(values) // block * block
        steps, epochs = steps[len(steps) - n:][block - 1::block], epochs[len(epochs) - n:][block - 1::block]
        values = values[len(values) - n:].reshape(-1, block).mean(axis=1)
    return Curve(steps, epochs, values)


def noise_sd(values: np.ndarray) -> float:
    """Per-step noise standard deviation from the MAD of first differences (a trend does not inflate it)."""
    if len(values) < 3:
        return 0.0
    diffs = np.diff(values)
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    return _MAD_TO_SD * mad / math.sqrt(2.0)


def median_se(sd: float, n1: int, n2: int) -> float:
    """Standard error of the difference of the medians of two samples of ``n1`` and ``n2`` values whose
    noise has standard deviation ``sd``."""
    return _MEDIAN_SE * sd * math.sqrt(1.0 / n1 + 1.0 / n2)


def trend(values: np.ndarray) -> Trend:
    """Medians of the first and last third and the standard error of their difference."""
    n = len(values)
    k = max(1, n // 3)
    first = float(np.median(values[:k]))
    last = float(np.median(values[-k:]))
    return Trend(first, last, median_se(noise_sd(values), k, k), n)


def surrogate_loss(trace: Trace, config: Config) -> bool:
    """The window's losses change sign at ``surrogate_sign_changes`` of their consecutive steps or more:
    a surrogate objective (a policy gradient weighted by advantages), whose level says nothing about fit."""
    values = trace.loss(config.curve_window)
    signs = np.sign(values[np.isfinite(values) & (values != 0)])
    if len(signs) < max(2, config.curve_min_steps // 2):
        return False
    return float(np.mean(signs[1:] != signs[:-1])) >= config.surrogate_sign_changes


def maximized_objective(trace: Trace, config: Config) -> bool:
    """The window's losses are below zero at ``objective_negative_share`` of their steps or more: an objective
    to maximize written as a loss (PPO's clipped surrogate, an actor's ``-Q``), not a fit to targets, which is
    never negative. The other models of the script (a critic) then chase targets that move with it."""
    values = trace.loss(config.curve_window)
    values = values[np.isfinite(values)]
    if len(values) < max(2, config.curve_min_steps // 2):
        return False
    return float(np.mean(values < 0)) >= config.objective_negative_share


def run_curve(trace: Trace) -> Curve:
    """The finite losses of the whole run: its first step, the down-sampled history of older steps, then the
    window (every step), in step order; each step once."""
    points: dict[int, tuple[int, float]] = {}
    head = [trace.first] if trace.first is not None else []
    for record in [*head, *trace.history()]:
        if record.loss is not None and math.isfinite(record.loss):
            points[int(record.step)] = (int(record.epoch), float(record.loss))
    window = zip(trace.steps().tolist(), trace.epochs().tolist(), trace.loss().tolist(), strict=True)
    for step, epoch, value in window:
        if math.isfinite(value):
            points[int(step)] = (int(epoch), float(value))
    order = sorted(points)
    return Curve(np.array(order, dtype=np.int64), np.array([points[s][0] for s in order], dtype=np.int64),
                 np.array([points[s][1] for s in order], dtype=np.float64))


def initial_level(trace: Trace, metric: str | None = None, count: int = 10,
                  cap_at_first: bool = True) -> float | None:
    """Median of the first ``count`` finite values of the run (its first record, the down-sampled history,
    the window); for the loss, at most the step-1 value (measured before the first update) unless
    ``cap_at_first`` is off (a typical starting level: one mini-batch's loss is one draw of a noisy quantity).

    For the loss, only values of the run's first ``count`` steps count, however few of them a long run's
    history still holds: its first ``count`` *kept* points span ``count`` times the history's stride, and a
    run that converged within them would have "started" at its converged level. (A metric, validation
    values at epoch ends among them, takes its first ``count`` values wherever they fall.)"""
    points: dict[int, float] = {}
    head = [trace.first] if trace.first is not None and metric is None else []
    limit = trace.first.step + count if head else None
    for record in [*head, *trace.history()]:
        value = record.loss if metric is None else record.metrics.get(metric)
        if (limit is not None and record.step >= limit) or len(points) >= count:
            break
        if value is not None and math.isfinite(value):
            points[record.step] = float(value)
    curve = trace.loss() if metric is None else trace.metric(metric)
    first = np.flatnonzero(np.isfinite(curve))[:count]
    for step, value in zip(trace.steps()[first].tolist(), curve[first].tolist(), strict=True):
        if limit is None or step < limit or not points:
            points.setdefault(int(step), float(value))
    if not points:
        return None
    first = [points[s] for s in sorted(points)[:count]]
    level = float(np.median(first))
    if metric is None and cap_at_first and sorted(points)[0] <= 1:
        # the step-1 loss is measured before any update: an early spike (a far too high learning rate)
        # must not count as the starting level the run later "learned" from
        level = min(level, first[0])
    return level


def learned_since_start(trace: Trace, min_rel_gain: float = 0.1) -> bool:
    """The recent loss (median of the window's last quarter) is at least ``min_rel_gain`` of the run's
    initial level below it: the run has learned, whatever its curve does now (a converged run is flat).
    Unknown (fewer than 4 finite losses, no initial level) counts as not learned, and so does a drop inside
    the first steps that ``initial_level`` takes its median over (a conservative answer)."""
    initial = initial_level(trace)
    loss = trace.loss()
    loss = loss[np.isfinite(loss)]
    if initial is None or loss.size < 4:
        return False
    recent = float(np.median(loss[-max(1, loss.size // 4):]))
    return recent < initial and initial - recent >= min_rel_gain * abs(initial)


def lr_warming_up(trace: Trace, config: Config) -> bool:
    """True while the learning rate grows: it rose by more than ``warmup_lr_factor`` over the window and is
    still near its peak (a warm-up, not a decay that followed one)."""
    lr = trace.lr(config.curve_window)
    lr = lr[np.isfinite(lr) & (lr > 0)]
    if len(lr) < 2:
        return False
    last = float(lr[-1])
    return last > config.warmup_lr_factor * float(lr.min()) and last >= _NEAR_PEAK * float(lr.max())


def last_loss_nonfinite(trace: Trace) -> bool:
    """The most recent loss is NaN/Inf: a numerical error, whose detector speaks for it."""
    last = trace.last_record
    return last is not None and last.loss is not None and not math.isfinite(last.loss)


def near(level: float, reference: float, rel_tol: float, floor: float = 0.0) -> bool:
    """``level`` within ``rel_tol`` of ``reference``, relative to the reference's height above ``floor`` (the
    lowest loss reachable, ``_facts.loss_floor``: 0 but for soft targets)."""
    return abs(level - reference) <= rel_tol * max(abs(reference - floor), 1e-12)


def provisional(found: Finding, trace: Trace, config: Config) -> Finding:
    """Mark a stall judged early (before ``provisional_steps``, in a run still going) provisional: a warning
    unless the run has another fault or a finding that explains it (``severity.py``)."""
    if not trace.completed and int(trace.last_step) < config.provisional_steps:
        found.severity = Severity.WARNING
        found.evidence["provisional"] = True
    return found
