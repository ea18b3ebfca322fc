"""When a watched model gets a statistics step (per-layer statistics, hooks attached for that step only).

Dense at the start, where most faults show (every ``stats_every`` steps for the first ``stats_dense_steps``),
then, while training is healthy, the gap doubles up to ``stats_every_max``. Anything that may announce a
fault makes it dense again from the next step: a new finding (a warning too), a learning-rate change by
``lr_change_factor`` or more, a loss far above its recent level. Every step, whatever the cadence, has the
fused check (loss, gradient and weight norms: NaN/Inf latency 0) and feeds the trend detectors.

Verdict latency for a fault that starts late (say an lr bump at step 2,000): the lr change itself makes the
cadence dense, so per-layer symptoms have ``tensor_min_points_sparse`` statistics points within
``stats_every`` x that many steps (80 at the defaults); the loss-curve detectors need no statistics step,
and they run every ``check_every`` steps while statistics are dense, then as often as statistics come, at
most ``check_every_max`` steps apart.
numpy-free, stdlib only.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from deeplocalize.config import Config


@dataclass
class Cadence:
    """The statistics schedule of one model (``is_stats``), told about every step (``observe``)."""

    config: Config
    gap: int = 0
    next_stats: int = 1
    dense_until: int = 0
    _last_lr: float | None = None
    _losses: deque[float] = field(default_factory=lambda: deque(maxlen=64))

    def __post_init__(self) -> None:
        self.gap = max(1, self.config.stats_every)
        self.dense_until = self.config.stats_dense_steps

    def check_gap(self) -> int:
        """Steps between trend checks: ``check_every`` while statistics are dense, then the statistics gap,
        at most ``check_every_max`` (a late stall is seen within that many steps)."""
        base = max(1, self.config.check_every)
        if self.gap <= max(1, self.config.stats_every):
            return base
        return min(max(base, self.gap), max(base, self.config.check_every_max))

    def is_stats(self, step: int) -> bool:
        """Is ``step`` a statistics step? (Steps count from 1.)"""
        return step >= self.next_stats

    def observe(self, step: int, stats: bool, lr: float | None, loss: float | None) -> None:
        """Step ``step`` ended (``stats``: it was a statistics step); plan the next statistics step."""
        if (self._lr_changed(lr) or self._loss_jumped(loss)) and self.config.stats_adaptive:
            self.densify(step)
            return
        if not stats:
            return
        if step >= self.dense_until:
            self.gap = min(max(1, self.config.stats_every_max), self.gap * 2)
        self.next_stats = step + self.gap

    def densify(self, step: int) -> None:
        """Statistics from the next step, then every ``stats_every`` steps for ``stats_dense_steps``
        (nothing when ``stats_adaptive`` is off)."""
        if not self.config.stats_adaptive:
            return
        self.gap = max(1, self.config.stats_every)
        self.dense_until = step + self.config.stats_dense_steps
        self.next_stats = min(self.next_stats, step + 1)

    def _lr_changed(self, lr: float | None) -> bool:
        if lr is None or not math.isfinite(lr) or lr <= 0:
            return False
        last, self._last_lr = self._last_lr, lr
        factor = self.config.lr_change_factor
        return last is not None and (lr >= last * factor or lr <= last / factor)

    def _loss_jumped(self, loss: float | None) -> bool:
        if loss is None or not math.isfinite(loss):
            return False
        recent = sorted(self._losses)
        self._losses.append(loss)
        if len(recent) < 16:
            return False
        median = recent[len(recent) // 2]
        return median > 0 and loss > self.config.loss_jump_ratio * median
