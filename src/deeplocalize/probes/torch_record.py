"""From one step's fetched numbers to its ``StepRecord`` (host side, numpy).

A step's ``StepBuffer`` holds entries of these kinds (see ``torch_hooks.record`` and ``torch_check``):
- ``"obs"``: one tensor reduced as its ``Observation`` says (a flag, an exact count, full statistics);
- ``"norms"``: the L2 norms of a layer's parameters or gradients (the every-step fused check);
- ``"loss"`` (one value), ``"accuracy"`` (correct, counted).
Keys are ``(LayerSlot, Channel)`` for layer tensors, or ``"data"`` / ``"target"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deeplocalize import summary
from deeplocalize.probes import torch_reduce as red
from deeplocalize.probes.torch_hooks import Mode, Observation


@dataclass
class Measured:
    """What one step's buffers say, merged by key."""

    stats: dict[Any, np.ndarray] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    correct: float = 0.0
    counted: float = 0.0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.counted if self.counted > 0 else None

    @property
    def loss(self) -> float | None:
        if not self.losses:
            return None
        return self.losses[0] if len(self.losses) == 1 else float(np.mean(self.losses))

    def finite(self) -> bool:
        """No NaN/Inf in any measured tensor or loss."""
        return all(summary.is_finite(v) for v in self.stats.values()) and all(
            math.isfinite(v) for v in self.losses)


def _obs_vector(obs: Observation, vals: np.ndarray) -> np.ndarray:
    vec = summary.empty()
    vec[summary.NUMEL] = obs.numel
    if obs.numel == 0:
        vec[summary.NONFINITE] = 0
        return vec
    if obs.mode == Mode.EXACT:
        vec[summary.NONFINITE] = round(float(vals[0])) if len(vals) else 0
        return vec
    if obs.mode == Mode.FLAGS:
        vec[summary.NONFINITE] = 0 if not len(vals) or np.isfinite(vals).all() else 1  # a lower bound
        return vec
    layout = obs.layout or red.Layout()
    count = 0.0 if np.isfinite(vals).all() else 1.0
    vec = red.summary_from_stats(obs.numel, count, vals, layout)
    if count == 0:
        pos = layout.width
        if obs.units is not None:
            vec[summary.DEAD_FRAC] = float(vals[pos]) / obs.units if obs.units else np.nan
            pos += 1
        if obs.band:
            vec[summary.SAT_FRAC] = float(vals[pos]) / obs.numel
    return vec


def _norm_vector(numel: float, sumsq: float, bad: bool) -> np.ndarray:
    vec = summary.empty()
    vec[summary.NUMEL] = numel
    vec[summary.NONFINITE] = 1 if bad else 0
    if not bad:
        vec[summary.NORM] = math.sqrt(sumsq)
    return vec


def measure(buffers: Iterable[red.StepBuffer]) -> Measured:
    """Merge every entry of the (fetched) buffers by key; later buffers refine earlier ones: an exact
    count (a replay) replaces a flag, full statistics replace a norm."""
    out = Measured()
    parts: dict[Any, list[tuple[int, np.ndarray]]] = {}  # key -> [(precision, vector)]
    norms: dict[Any, list[float]] = {}  # key -> [numel, sum of squares, any non-finite]
    for buffer in buffers:
        for entry in buffer.entries:
            vals = buffer.values(entry)
            if len(vals) != entry.length:  # added after the last fetch: read at the next one
                continue
            if entry.kind == "obs":
                obs: Observation = entry.extra
                rank = {Mode.FLAGS: 0, Mode.STATS: 1, Mode.EXACT: 2}[obs.mode]
                parts.setdefault(entry.key, []).append((rank, _obs_vector(obs, vals)))
            elif entry.kind == "norms":
                for (key, numel), value in zip(entry.extra, vals, strict=True):
                    acc = norms.setdefault(key, [0.0, 0.0, 0.0])
                    acc[0] += numel
                    if math.isfinite(value):
                        acc[1] += float(value) ** 2
                    else:
                        acc[2] = 1.0
            elif entry.kind == "loss":
                out.losses.append(float(vals[0]))
            elif entry.kind == "accuracy":
                out.correct += float(vals[0])
                out.counted += float(vals[1])
    for key, acc in norms.items():
        parts.setdefault(key, []).append((-1, _norm_vector(acc[0], acc[1], bool(acc[2]))))
    for key, ranked in parts.items():
        out.stats[key] = _merge(ranked)
    return out


def _merge(ranked: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """One vector per key from its parts: the most precise kind wins; parts of that kind combine (a
    layer's kernel and bias, several outputs); an exact count overrides the count of full statistics."""
    best = max(rank for rank, _ in ranked)
    vecs = [v for rank, v in ranked if rank == best]
    if best == -1:  # norms only: already one vector per key
        return vecs[0]
    vec = vecs[0].copy() if len(vecs) == 1 else summary.combine(vecs)
    if best == 2:  # exact counts of a replay: keep any statistics measured on the step itself
        stats = [v for rank, v in ranked if rank == 1]
        if stats:
            full = summary.combine(stats) if len(stats) > 1 else stats[0].copy()
            full[summary.NONFINITE] = vec[summary.NONFINITE]
            return full
    if best <= 1:  # flags or statistics: a norm measured on the same step fills a missing norm
        norm = [v for rank, v in ranked if rank == -1]
        if norm and math.isnan(vec[summary.NORM]):
            vec[summary.NORM] = norm[0][summary.NORM]
    return vec
