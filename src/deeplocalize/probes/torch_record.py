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
from deeplocalize.trace import StepRecord


@dataclass
class Measured:
    """What one step's buffers say, merged by key."""

    stats: dict[Any, np.ndarray] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    correct: float = 0.0
    counted: float = 0.0
    #: ``finite()`` once known (``measure`` sets it when every number is a norm, a loss or a count: then the
    #: buffers' own "every number finite" says it)
    known_finite: bool | None = None

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
        if self.known_finite is None:
            self.known_finite = all(summary.is_finite(v) for v in self.stats.values()) and all(
                math.isfinite(v) for v in self.losses)
        return self.known_finite


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


def measure(buffers: Iterable[red.StepBuffer]) -> Measured:
    """Merge every entry of the (fetched) buffers by key; later buffers refine earlier ones: an exact
    count (a replay) replaces a flag, full statistics replace a norm."""
    out = Measured()
    parts: dict[Any, list[tuple[int, np.ndarray]]] = {}  # key -> [(precision, vector)]
    norm_rows: list[tuple[Any, np.ndarray]] = []
    plain = True  # norms, losses and counts only: a number is finite exactly when what it measures is
    for buffer in buffers:
        for entry in buffer.entries:
            vals = buffer.values(entry)
            if len(vals) != entry.length:  # added after the last fetch: read at the next one
                plain = False
                continue
            if entry.kind == "obs":
                plain = False
                obs: Observation = entry.extra
                rank = {Mode.FLAGS: 0, Mode.STATS: 1, Mode.EXACT: 2}[obs.mode]
                parts.setdefault(entry.key, []).append((rank, _obs_vector(obs, vals)))
            elif entry.kind == "norms":
                norm_rows.extend(_norm_rows(entry.extra, vals))
            elif entry.kind == "loss":
                out.losses.append(float(vals[0]))
            elif entry.kind == "accuracy":
                out.correct += float(vals[0])
                out.counted += float(vals[1])
    if plain:
        out.known_finite = all(buffer.finite for buffer in buffers)
    for key, row in _combine_norms(norm_rows):
        if key in parts:
            parts[key].append((-1, row))
        else:
            out.stats[key] = row  # the usual case: nothing else measured this key this step
    for key, ranked in parts.items():
        out.stats[key] = _merge(ranked)
    return out


def step_record(step: int, measured: Measured, lr: float | None, replay: str | None) -> StepRecord:
    """The trace's record of a step from what was measured (``replay``: the outcome of its replay, if any)."""
    rec = StepRecord(step=step, loss=measured.loss, lr=lr, stats=layer_stats(measured.stats),
                     data=measured.stats.get("data"), target=measured.stats.get("target"))
    if measured.accuracy is not None:
        rec.metrics["accuracy"] = measured.accuracy
    rec.all_finite = measured.finite() and all(math.isfinite(v) for v in rec.metrics.values())
    if replay is not None:
        rec.replay = replay
    return rec


def layer_stats(stats: dict[Any, np.ndarray]) -> dict[tuple[int, Any], np.ndarray]:
    """The per-layer vectors under record keys ``(layer index, channel)`` (hooks key by the layer's slot,
    the check by its index; layers not yet indexed and non-layer keys are left out)."""
    out = {}
    for key, vec in stats.items():
        if type(key) is tuple:
            layer = key[0]
            if type(layer) is int:
                out[key] = vec
            elif layer.index is not None:
                out[(layer.index, key[1])] = vec
    return out


def _norm_rows(group: Any, vals: np.ndarray) -> list[tuple[Any, np.ndarray]]:
    """One (numel, non-finite, norm) vector per key of a ``NormGroup``, in one pass of numpy."""
    k = len(group.keys)
    if np.isfinite(vals).all():  # the usual step: no NaN/Inf to count per key
        block = group.template().copy()
        block[:, summary.NORM] = np.sqrt(np.bincount(group.group, weights=vals * vals, minlength=k))
        return list(zip(group.keys, block, strict=True))
    finite = np.isfinite(vals)
    bad = np.bincount(group.group, weights=~finite, minlength=k) > 0
    sumsq = np.bincount(group.group, weights=np.where(finite, vals, 0.0) ** 2, minlength=k)
    block = np.full((k, summary.N_STATS), np.nan)
    block[:, summary.NUMEL] = group.numel
    block[:, summary.NONFINITE] = bad
    block[:, summary.NORM] = np.where(bad, np.nan, np.sqrt(sumsq))
    return list(zip(group.keys, block, strict=True))


def _combine_norms(rows: list[tuple[Any, np.ndarray]]) -> list[tuple[Any, np.ndarray]]:
    """Rows of the same key from several device/dtype groups merged (sizes add, norms in quadrature)."""
    seen: dict[Any, np.ndarray] = {}
    for key, row in rows:
        old = seen.get(key)
        if old is None:
            seen[key] = row
        else:
            merged = old.copy()
            merged[summary.NUMEL] += row[summary.NUMEL]
            merged[summary.NONFINITE] = max(old[summary.NONFINITE], row[summary.NONFINITE])
            merged[summary.NORM] = math.hypot(old[summary.NORM], row[summary.NORM])
            seen[key] = merged
    return list(seen.items())


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
