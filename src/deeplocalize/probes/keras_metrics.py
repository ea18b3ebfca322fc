"""Per-batch loss and metrics from Keras' running means.

Keras 3 passes ``on_train_batch_end`` the running mean of the loss and of each metric since the epoch began,
not the batch's own value. Every mean-type tracker keeps ``total`` and ``count`` variables, so the batch's
value is the change of ``total`` over the change of ``count`` since the previous batch; this is what the
detectors need (a flat or oscillating loss is invisible in a running mean). A NaN batch turns the total NaN,
so the NaN is seen on the very batch it appears. Trackers without ``total``/``count`` fall back to the logs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _trackers(model: Any) -> list[tuple[str, Any]]:
    """(name, metric) for the loss tracker and each compiled metric that keeps total and count."""
    found: list[tuple[str, Any]] = []
    for metric in getattr(model, "metrics", []) or []:
        inner = metric.metrics if type(metric).__name__ == "CompileMetrics" else [metric]
        for m in inner:
            if hasattr(m, "total") and hasattr(m, "count"):
                found.append((m.name, m))
    return found


class BatchMetrics:
    """Reads the batch's own loss and metrics from the trackers' totals; call ``reset`` at epoch start."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._trackers: list[tuple[str, Any]] | None = None
        self._prev: dict[str, tuple[float, float]] = {}

    def reset(self) -> None:
        """Keras resets its trackers at every epoch start (and around evaluation)."""
        self._prev = {}

    def read(self, logs: dict[str, Any] | None) -> dict[str, float]:
        """The batch values, by log name ("loss", "accuracy", ...)."""
        if self._trackers is None:
            self._trackers = _trackers(self.model)
        out: dict[str, float] = {}
        for name, metric in self._trackers:
            try:
                total = float(metric.total.value)
                count = float(metric.count.value)
            except Exception:  # an unbuilt or exotic tracker: use the logs
                continue
            prev_total, prev_count = self._prev.get(name, (0.0, 0.0))
            if count < prev_count:  # reset behind our back (e.g. evaluate() inside the epoch)
                prev_total, prev_count = 0.0, 0.0
            self._prev[name] = (total, count)
            if count > prev_count:
                out[name] = (total - prev_total) / (count - prev_count)
            elif not math.isfinite(total):
                out[name] = total
        for name, value in (logs or {}).items():
            if name not in out:
                try:
                    out[name] = float(np.asarray(value))
                except (TypeError, ValueError):
                    continue
        return out
