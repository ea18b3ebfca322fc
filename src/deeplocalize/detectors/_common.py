"""Helpers shared by the tensor-level detectors: naming layers, reading series, sustained conditions.

numpy and the standard library only (like every detector).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from deeplocalize import fixes
from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import LayerInfo, LayerRef, ModelInfo
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Symptom

#: Activations whose units can die (output exactly 0 for every input).
RELU_FAMILY = frozenset({"relu", "relu6"})
#: Bounded activations whose saturation stops the gradient.
SATURATING = frozenset({"sigmoid", "tanh"})
#: Layer types (lower-case substrings) that only move values around: constant in, constant out.
PASS_THROUGH = (
    "flatten",
    "reshape",
    "dropout",
    "identity",
    "permute",
    "unflatten",
    "view",
    "squeeze",
    "repeat",
    "cropping",
    "zeropadding",
    "padding",
)
#: Layer types whose output statistics are fixed by construction (mean ~0, std ~1).
NORMALIZING = ("norm",)


# ---------------------------------------------------------------------- layers
def info(model: ModelInfo, index: int) -> LayerInfo | None:
    """The LayerInfo of this index, or None when the model facts do not list it."""
    return model.layer(index)


def ref(model: ModelInfo, index: int | None) -> LayerRef | None:
    """The contract's layer reference; a placeholder name when the model facts lack the layer."""
    if index is None:
        return None
    layer = model.layer(index)
    return layer.ref if layer is not None else LayerRef(index, f"layer_{index}", "unknown")


def name(model: ModelInfo, index: int | None) -> str:
    """The layer's name quoted for messages, e.g. "`fc2`"."""
    r = ref(model, index)
    return "the model" if r is None else f"`{r.name}`"


def kind(model: ModelInfo, index: int) -> str:
    """Lower-case type of the layer ("" when unknown)."""
    layer = model.layer(index)
    return (layer.type or "").lower() if layer is not None else ""


def activation(model: ModelInfo, index: int) -> str | None:
    layer = model.layer(index)
    return None if layer is None or layer.activation is None else layer.activation.lower()


def is_pass_through(model: ModelInfo, index: int) -> bool:
    t = kind(model, index)
    return any(p in t for p in PASS_THROUGH)


def is_normalizing(model: ModelInfo, index: int) -> bool:
    t = kind(model, index)
    return any(p in t for p in NORMALIZING)


def trainable(model: ModelInfo, index: int, trace: Trace | None = None) -> bool:
    """True when the layer has trainable parameters (falls back to a recorded UPDATE when facts lack it)."""
    layer = model.layer(index)
    if layer is not None:
        return layer.trainable_params > 0
    return trace is not None and trace.has(index, Channel.UPDATE)


def previous_param_layer(model: ModelInfo, index: int) -> LayerInfo | None:
    """The nearest layer before ``index`` (forward order) with parameters, e.g. the Linear before a ReLU."""
    before = [layer for layer in model.layers if layer.index < index and layer.params > 0]
    return max(before, key=lambda layer: layer.index) if before else None


def last_param_index(model: ModelInfo, trace: Trace) -> int | None:
    """Index of the last layer (forward order) holding parameters."""
    known = [layer.index for layer in model.layers if layer.params > 0]
    known += [i for i in trace.layers() if trace.has(i, Channel.WEIGHTS)]
    return max(known) if known else None


def indices(trace: Trace, channel: Channel) -> list[int]:
    """Layer indices, forward order, that have this channel recorded."""
    return [i for i in trace.layers() if trace.has(i, channel)]


def record_indices(record: StepRecord, channel: Channel) -> list[int]:
    return sorted(i for (i, ch) in record.stats if ch == channel)


# ---------------------------------------------------------------------- numbers
def finite(vec: np.ndarray | None) -> bool:
    """True when unknown or with no NaN/Inf element."""
    return vec is None or sm.is_finite(vec)


def max_abs(vec: np.ndarray) -> float:
    """Largest finite magnitude of the summarized tensor (NaN when unknown)."""
    lo, hi = float(vec[sm.MIN]), float(vec[sm.MAX])
    if math.isnan(lo) or math.isnan(hi):
        return math.nan
    return max(abs(lo), abs(hi))


def rms(vec: np.ndarray) -> float:
    """Root mean square of the elements: norm / sqrt(numel) (an upper bound of mean |x|)."""
    n = float(vec[sm.NUMEL])
    return float(vec[sm.NORM]) / math.sqrt(n) if n > 0 else math.nan


def rms_series(mat: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return mat[:, sm.NORM] / np.sqrt(mat[:, sm.NUMEL])


def max_abs_series(mat: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(mat[:, sm.MIN]), np.abs(mat[:, sm.MAX]))


def fmt(x: float | None) -> str:
    """Short human number: 0.001, 3.2e+05."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "?"
    return f"{x:.3g}"


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def lr_advice(trace: Trace, model: ModelInfo) -> str:
    """ "lr=0.5 (sgd) is too high; try 0.05 to 0.005" or a generic version when the lr is unknown."""
    lr = fixes.current_lr(model, trace)
    opt = f" ({model.optimizer.name})" if model.optimizer is not None else ""
    if lr is None or lr <= 0:
        return f"lower the learning rate{opt} 10-100x"
    return f"lr={lr:g}{opt} is too high; try {lr / 10:.2g} to {lr / 100:.2g}"


def loss_converged(trace: Trace, floor: float, last: int = 10) -> bool:
    """True when the recent loss is below ``floor`` (small signals are then expected, not a fault)."""
    recent = trace.loss(last=last)
    recent = recent[np.isfinite(recent)]
    return bool(recent.size) and float(np.median(recent)) < floor


def epoch_at(trace: Trace, step: int) -> int:
    steps = trace.steps()
    hit = np.nonzero(steps == step)[0]
    return int(trace.epochs()[hit[0]]) if hit.size else 0


def data_max_abs(trace: Trace, last: int | None = None) -> float:
    """Largest |x| of the input batches in the window (NaN if not recorded)."""
    mat = trace.data(last)
    vals = max_abs_series(mat)
    vals = vals[np.isfinite(vals)]
    return float(vals.max()) if vals.size else math.nan


# ---------------------------------------------------------------------- conditions over time
def measured_every(trace: Trace) -> int:
    """Steps between the trace's full-statistics records (1 when every step is measured)."""
    return trace.derived("measured_every", lambda: _measured_every(trace))


def _measured_every(trace: Trace) -> int:
    steps = trace.steps()
    for index in trace.layers():
        for channel in (Channel.OUTPUT, Channel.WEIGHT_GRAD, Channel.WEIGHTS):
            if trace.has(index, channel):
                col = trace.series(index, channel, "std")
                at = steps[np.isfinite(col)]
                if len(at) >= 2:
                    return max(1, int(np.median(np.diff(at))))
    return 1


def sustain_points(config: Config, trace: Trace, every: int | None = None) -> int:
    """Measured points a sustained per-layer condition needs, for a series measured every ``every`` steps
    (default: the trace's statistics cadence): ``tensor_min_points`` when measured every step (the
    gradient norms); when measured every k steps, the same span of training (ceil(points / k)) but at least
    ``tensor_min_points_sparse`` points, so trend verdicts still come within the first 200 steps."""
    every = measured_every(trace) if every is None else every
    if every <= 1:
        return config.tensor_min_points
    return max(config.tensor_min_points_sparse, math.ceil(config.tensor_min_points / every))


def series_every(steps: np.ndarray, values: np.ndarray) -> int:
    """Steps between the measured (finite) points of one series (1 when measured every step)."""
    at = steps[np.isfinite(values)]
    return max(1, int(np.median(np.diff(at)))) if at.size >= 2 else 1


def first_sustained(steps: np.ndarray, cond: np.ndarray, min_points: int, frac: float) -> int | None:
    """The step where a condition that holds now first began to hold.

    ``cond`` is a float array (1 true, 0 false, NaN not measured) aligned with ``steps``. The condition is
    sustained when, among the last ``min_points`` measured points, at least ``frac`` hold (the latest
    included).
    The returned step is the earliest true point of the longest trailing stretch that keeps that fraction.
    """
    ok = ~np.isnan(cond)
    s, c = steps[ok], cond[ok] > 0.5
    if len(c) < min_points or not c[-1]:
        return None
    tail = c[-min_points:]
    if tail.sum() < math.ceil(frac * min_points - 1e-9):
        return None
    # Walk back while the trailing fraction stays >= frac.
    trues = np.cumsum(c[::-1])  # trues in the last k+1 points
    counts = np.arange(1, len(c) + 1)
    good = trues >= frac * counts - 1e-9
    k = int(np.nonzero(good)[0].max())  # longest trailing stretch keeping the fraction
    start = len(c) - 1 - k
    first_true = start + int(np.argmax(c[start:]))
    return int(s[first_true])


def as_cond(mask: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Bool mask to the float condition of ``first_sustained`` (NaN where not measured)."""
    out = mask.astype(float)
    out[~measured] = np.nan
    return out


# ---------------------------------------------------------------------- findings
def cause(category: Category, weight: float, fix: str, model: ModelInfo, index: int | None) -> CauseHint:
    return CauseHint(category=category, weight=float(weight), fix=fix, layer=ref(model, index))


def finding(
    symptom: Symptom,
    phase: Phase,
    model: ModelInfo,
    trace: Trace,
    index: int | None,
    step: int,
    message: str,
    evidence: dict[str, Any],
    causes: Iterable[CauseHint],
    detected_at: int | None = None,
) -> Finding:
    """A Finding naming the layer per the contract, with the confirming step in the evidence."""
    evidence = dict(evidence)
    evidence["detected_at_step"] = int(detected_at if detected_at is not None else trace.last_step)
    return Finding(
        symptom=symptom,
        phase=phase,
        layer=ref(model, index),
        step=int(step),
        epoch=epoch_at(trace, step),
        message=message,
        evidence=evidence,
        causes=list(causes),
    )


def names(model: ModelInfo, idx: Sequence[int]) -> list[str]:
    out = []
    for i in idx:
        r = ref(model, i)
        out.append(r.name if r is not None else str(i))
    return out


def update_ratio(trace: Trace, model: ModelInfo,
                 last: int = 50) -> tuple[float, LayerRef | None, float] | None:
    """(largest per-layer median of ||update|| / ||weights||, that layer, median over layers) over the
    latest ``last`` steps of the window that measured both (updates come on statistics steps only, which
    grow sparse on a long healthy run); None when the trace has no update statistics."""
    per_layer: list[tuple[float, int]] = []
    for index in trace.layers():
        if not (trace.has(index, Channel.UPDATE) and trace.has(index, Channel.WEIGHTS)):
            continue
        up = trace.series(index, Channel.UPDATE, "norm")
        w = trace.series(index, Channel.WEIGHTS, "norm")
        ok = np.isfinite(up) & np.isfinite(w) & (w > 0)
        if ok.any():
            per_layer.append((float(np.median((up[ok] / w[ok])[-last:])), index))
    if not per_layer:
        return None
    high, index = max(per_layer)
    typical = float(np.median([r for r, _ in per_layer]))
    info = model.layer(index)
    return high, None if info is None else info.ref, typical

