"""What is measured on each tensor, as a fixed-length float vector (numpy only).

A probe reduces every observed tensor on its own device to the vector described by ``STATS``, stacks the
vectors of one step and copies them to the host at once. This module is the numpy reference of those
reductions (used by tests, the Keras/TensorFlow path and the store) and the helpers to read them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

#: Names of the entries of a summary vector, in order.
STATS: tuple[str, ...] = (
    "numel",  # number of elements
    "nonfinite",  # count of NaN and +/-Inf elements
    "min",  # minimum over finite elements (NaN if none)
    "max",  # maximum over finite elements (NaN if none)
    "mean",  # mean over finite elements
    "std",  # population standard deviation over finite elements
    "zero_frac",  # fraction of elements exactly 0
    "norm",  # L2 norm over finite elements
    "dead_frac",  # fraction of units (feature axis) that are <= 0 for every sample; NaN if not measured
    "sat_frac",  # fraction of elements in the saturated band of a bounded activation; NaN if not measured
)
N_STATS = len(STATS)
IDX: dict[str, int] = {name: i for i, name in enumerate(STATS)}

NUMEL, NONFINITE, MIN, MAX, MEAN, STD, ZERO_FRAC, NORM, DEAD_FRAC, SAT_FRAC = range(N_STATS)

#: Saturated band per bounded activation, measured on the activation's *output*: (low, high) such that
#: Relative spacing of representable values (machine epsilon) of the weight dtypes: an update smaller than
#: about half of it times the weight rounds away.
EPSILON: dict[str, float] = {"float32": 2.0 ** -23, "bfloat16": 2.0 ** -7, "float16": 2.0 ** -10}
#: an output <= low or >= high is saturated. sigmoid(±5) and tanh(±5): DeepDiagnosis' [-5, 5] input rule.
SATURATION_BANDS: dict[str, tuple[float, float]] = {
    "sigmoid": (1.0 / (1.0 + math.exp(5.0)), 1.0 / (1.0 + math.exp(-5.0))),
    "tanh": (-math.tanh(5.0), math.tanh(5.0)),
    "softmax": (1e-4, 1.0 - 1e-4),
}


def empty() -> np.ndarray:
    """A summary vector with every entry unknown (NaN) and numel 0."""
    vec = np.full(N_STATS, np.nan)
    vec[NUMEL] = 0.0
    return vec


def summarize(
    values: np.ndarray,
    *,
    unit_axis: int | None = None,
    saturation: tuple[float, float] | None = None,
) -> np.ndarray:
    """Reference reduction of one array to a summary vector.

    ``unit_axis``: the feature axis; when given, ``dead_frac`` is the fraction of units whose value is <= 0
    for every sample (all other axes). ``saturation``: the (low, high) band of a bounded activation's output.
    """
    arr = np.asarray(values, dtype=np.float64)
    vec = empty()
    vec[NUMEL] = arr.size
    if arr.size == 0:
        return vec
    finite_mask = np.isfinite(arr)
    vec[NONFINITE] = arr.size - int(finite_mask.sum())
    finite = arr[finite_mask]
    vec[ZERO_FRAC] = float((arr == 0).mean())
    if finite.size:
        vec[MIN] = finite.min()
        vec[MAX] = finite.max()
        vec[MEAN] = finite.mean()
        vec[STD] = finite.std()
        vec[NORM] = math.sqrt(float(np.dot(finite, finite)))
    if unit_axis is not None and arr.ndim >= 1:
        moved = np.moveaxis(arr, unit_axis, -1).reshape(-1, arr.shape[unit_axis])
        vec[DEAD_FRAC] = float((moved <= 0).all(axis=0).mean())
    if saturation is not None:
        low, high = saturation
        vec[SAT_FRAC] = float(((arr <= low) | (arr >= high)).mean())
    return vec


def combine(vectors: Iterable[np.ndarray]) -> np.ndarray:
    """Merge the summaries of several tensors (e.g. a layer's kernel and bias) into one summary."""
    vecs = [np.asarray(v, dtype=np.float64) for v in vectors]
    vecs = [v for v in vecs if v[NUMEL] > 0]
    if not vecs:
        return empty()
    if len(vecs) == 1:
        return vecs[0].copy()
    stacked = np.stack(vecs)
    out = empty()
    n = stacked[:, NUMEL]
    out[NUMEL] = n.sum()
    out[NONFINITE] = np.nansum(stacked[:, NONFINITE])
    finite_n = n - np.nan_to_num(stacked[:, NONFINITE])
    with np.errstate(invalid="ignore", divide="ignore"):
        has = ~np.isnan(stacked[:, MEAN]) & (finite_n > 0)
        if has.any():
            w = finite_n[has]
            means = stacked[has, MEAN]
            mean = float(np.dot(w, means) / w.sum())
            second = np.dot(w, stacked[has, STD] ** 2 + means**2) / w.sum()
            lows, highs = stacked[has, MIN], stacked[has, MAX]  # NaN where not measured
            if not np.isnan(lows).all():
                out[MIN] = np.nanmin(lows)
            if not np.isnan(highs).all():
                out[MAX] = np.nanmax(highs)
            out[MEAN] = mean
            out[STD] = math.sqrt(max(float(second) - mean * mean, 0.0))
            out[NORM] = math.sqrt(float(np.nansum(stacked[has, NORM] ** 2)))
        for col in (ZERO_FRAC, DEAD_FRAC, SAT_FRAC):  # element-weighted over the parts that measured it
            known = ~np.isnan(stacked[:, col])
            if known.any():
                out[col] = float(np.dot(stacked[known, col], n[known]) / n[known].sum())
    return out


def is_finite(vec: np.ndarray) -> bool:
    """True when the summarized tensor had no NaN/Inf element (an unmeasured count counts as finite)."""
    count = vec[NONFINITE]
    return bool(np.isnan(count) or count == 0)


def as_dict(vec: np.ndarray) -> dict[str, float | None]:
    """A JSON-friendly view of a summary vector (NaN becomes None)."""
    return {name: (None if math.isnan(float(v)) else float(v)) for name, v in zip(STATS, vec, strict=True)}


def prior_entropy(counts: np.ndarray) -> float | None:
    """Entropy (nats) of a label distribution from its class counts, with the Miller-Madow correction
    (+ (classes seen - 1) / 2n) for the bias of a finite sample; None without labels."""
    counts = np.asarray(counts, dtype=np.float64)
    counts = counts[counts > 0]
    n = float(counts.sum())
    if n <= 0:
        return None
    p = counts / n
    return float(-(p * np.log(p)).sum() + (len(counts) - 1) / (2 * n))


def soft_target_entropy(values: np.ndarray) -> float | None:
    """Mean binary entropy (nats) of targets in [0, 1] of which some lie strictly between: the lowest binary
    cross-entropy any model reaches on them (soft targets: ratings scaled to [0, 1], pixel intensities,
    smoothed labels). None for hard 0/1 targets (their floor is 0) or values outside [0, 1]."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if not v.size or v.min() < 0 or v.max() > 1 or np.isin(v, (0.0, 1.0)).all():
        return None
    p = np.clip(v, 1e-12, 1 - 1e-12)
    return float(np.mean(-(p * np.log(p) + (1 - p) * np.log1p(-p))))


#: Share of the scored positions whose target must equal a token input's for the probes to call the targets
#: aligned with it (``target_alignment``, ``input_holding_targets``; own choice: a masked language model
#: scoring every position, 15% of them corrupted, stays below), judged on at least ``ALIGNED_MIN_POSITIONS``
#: scored positions.
ALIGNED_SHARE = 0.95
ALIGNED_MIN_POSITIONS = 16
#: Decoder inputs hold the targets only if the targets' most frequent value is below this share of the
#: scored positions: many different tokens matched, not a constant that happens to equal most labels (own
#: choice; ``input_holding_targets`` of both probes).
DIVERSE_TARGET_SHARE = 0.5

#: The torch probe reads every k-th row of a first batch for ``feature_scale_ratios``: 4,096 to 8,191 rows.
SCALE_ROWS = 4096


def feature_scale_ratios(rows: np.ndarray) -> tuple[float | None, float | None]:
    """The spread of a (rows, features) batch's features: max / min of their standard deviations over every
    feature that varies, and over its continuous features only (those whose value differs from the feature's
    median in at least half the rows). Sparse features (mostly-zero pixels, one-hot columns) have small
    deviations that say nothing about scaling; continuous features squeezed to a thousandth of the others'
    spread (one mean and deviation for every column) do. None where fewer than two features count."""
    x = np.asarray(rows, dtype=np.float64)
    std = x.std(axis=0)
    continuous = np.mean(x != np.median(x, axis=0), axis=0) >= 0.5
    ratios = []
    for kept in (std[std > 0], std[continuous & (std > 0)]):
        ratios.append(float(kept.max() / kept.min()) if kept.size >= 2 else None)
    return ratios[0], ratios[1]
