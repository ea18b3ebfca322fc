"""What the graphical reports (HTML, TensorBoard) read from a trace: whole-run series, oldest first.

A ``Trace`` keeps the last ``window`` steps in full and a down-sampled history of older steps. A report
wants the whole run, so this joins the history (steps before the window) with the window.
numpy and stdlib only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deeplocalize import summary
from deeplocalize.diagnosis import Diagnosis
from deeplocalize.model import LayerInfo, ModelInfo
from deeplocalize.trace import Key, Trace

#: Display name of each channel in reports and TensorBoard tags (``layer/<name>/<label>/<stat>``).
CHANNEL_LABEL = {
    "output": "forward",
    "input": "input",
    "output_grad": "backward",
    "weight_grad": "weight_grad",
    "weights": "weights",
    "update": "update",
    "attention": "attention",
}


@dataclass
class RunSeries:
    """Every recorded series of a run, aligned on ``steps`` (NaN where a value was not recorded)."""

    steps: np.ndarray
    loss: np.ndarray
    lr: np.ndarray
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    stats: dict[Key, np.ndarray] = field(default_factory=dict)  # key -> (n_steps, N_STATS)

    def __len__(self) -> int:
        return len(self.steps)

    def stat(self, key: Key, name: str) -> np.ndarray:
        """One statistic of one (layer, channel) over the run (all NaN if never recorded)."""
        mat = self.stats.get(key)
        if mat is None:
            return np.full(len(self.steps), np.nan)
        return mat[:, summary.IDX[name]]


def collect(trace: Trace) -> RunSeries:
    """The run's series: down-sampled history older than the window, then the window in full."""
    win_steps = trace.steps()
    first_in_window = int(win_steps[0]) if len(win_steps) else None
    older = [r for r in trace.history() if first_in_window is None or r.step < first_in_window]
    n_old = len(older)
    n = n_old + len(win_steps)
    steps = np.concatenate([np.array([r.step for r in older], dtype=np.int64), win_steps.astype(np.int64)])
    loss = np.concatenate([_opt([r.loss for r in older]), trace.loss()])
    lr = np.concatenate([_opt([r.lr for r in older]), trace.lr()])
    metric_names = set(trace.metric_names)
    for r in older:
        metric_names.update(r.metrics)
    metrics = {
        name: np.concatenate([_opt([r.metrics.get(name) for r in older]), trace.metric(name)])
        for name in sorted(metric_names)
    }
    keys = set(trace.keys())
    for r in older:
        keys.update(r.stats)
    stats: dict[Key, np.ndarray] = {}
    for key in sorted(keys, key=lambda k: (k[0], str(k[1]))):
        mat = np.full((n, summary.N_STATS), np.nan)
        for i, r in enumerate(older):
            vec = r.stats.get(key)
            if vec is not None:
                mat[i] = vec
        if trace.has(*key):
            mat[n_old:] = trace.matrix(*key)
        stats[key] = mat
    return RunSeries(steps=steps, loss=loss, lr=lr, metrics=metrics, stats=stats)


def _opt(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def layer_list(
    diagnosis: Diagnosis, model: ModelInfo | None = None, trace: Trace | None = None
) -> list[LayerInfo]:
    """The layers to show, in forward order: the model's (fuller) or the diagnosis', plus any layer that only
    a finding or the trace mentions (so nothing observed is silently dropped)."""
    layers: dict[int, LayerInfo] = {}
    source = model.layers if model is not None and model.layers else diagnosis.layers
    for layer in source:
        layers[layer.index] = layer
    for finding in diagnosis.findings:
        ref = finding.layer
        if ref is not None and ref.index not in layers:
            layers[ref.index] = LayerInfo(index=ref.index, name=ref.name, type=ref.type)
    for cause in diagnosis.root_causes:
        ref = cause.layer
        if ref is not None and ref.index not in layers:
            layers[ref.index] = LayerInfo(index=ref.index, name=ref.name, type=ref.type)
    if trace is not None:
        for index in trace.layers():
            if index not in layers:
                layers[index] = LayerInfo(index=index, name=f"layer_{index}", type="?")
    return [layers[i] for i in sorted(layers)]


def nan_tail(values: np.ndarray) -> np.ndarray:
    """Mask of the NaN entries after the last finite value: a loss that turned NaN. (In a trace, NaN also
    means "not reported", so interior gaps are not counted.)"""
    finite_idx = np.flatnonzero(~np.isnan(values))
    tail = np.zeros(len(values), dtype=bool)
    if finite_idx.size:
        tail[finite_idx[-1] + 1:] = True
    return tail


# ---------------------------------------------------------------------- bucketing (charts keep min/max)
def buckets(n: int, most: int) -> list[np.ndarray]:
    """Split range(n) into at most ``most`` contiguous groups."""
    if n <= most:
        return [np.array([i]) for i in range(n)]
    return [g for g in np.array_split(np.arange(n), most) if len(g)]


def agg_x(steps: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    return np.array([float(steps[g].mean()) for g in groups]) if groups else np.array([])


def _reduce(values: np.ndarray, groups: list[np.ndarray], fn: Callable[[np.ndarray], Any]) -> np.ndarray:
    if groups and all(len(g) == 1 for g in groups):
        return np.asarray(values, dtype=np.float64).copy()
    out = np.full(len(groups), np.nan)
    for k, g in enumerate(groups):
        chunk = values[g]
        chunk = chunk[np.isfinite(chunk)]
        if chunk.size:
            out[k] = fn(chunk)
    return out


def agg_mean(values: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    return _reduce(values, groups, np.mean)


def agg_min(values: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    return _reduce(values, groups, np.min)


def agg_max(values: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    return _reduce(values, groups, np.max)


def agg_any(mask: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    return np.array([bool(mask[g].any()) for g in groups], dtype=bool)


def last_finite(values: np.ndarray) -> float:
    """The last finite value (NaN if none)."""
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else math.nan
