"""The DeepDiagnosis (ICSE 2022) rules and fix decision procedure, as replay rules (from the paper).

Checked at each epoch end, layer by layer in forward order, symptoms in the table's order:
numerical error (mean NaN/Inf, or exactly 0, of a layer's output, weights or weight gradient; NaN loss);
unchanged weights (weights' mean identical over the last 5 epochs); saturated activation (> 50% of a
sigmoid/tanh layer's inputs outside [-5, 5], i.e. its output in the saturated band); dead node (>= 70% of a
ReLU layer's outputs <= 0); output out of range (labels outside the output activation's range; class-index
labels count as one-hot); loss not decreasing (last 5 epoch losses identical); accuracy not increasing
(last 20 epoch accuracies identical); vanishing gradient (mean |weight gradient| < 1e-7; we have the RMS,
an upper bound of mean |g|, so this fires no more often than the original).
Fix procedure on the first symptom: input outside [-1, 1] -> data; lr * ||g|| / ||W|| > 0.1 or < 1e-5 (the
symptom's layer, else the output layer) -> learning_rate; otherwise the symptom's default fix
(``DEFAULT_FIX``, our reading of the paper's table). Ranked answer: the decided fix, then the symptom's other
defaults.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import numpy as np

from benchmarks.baselines.common import (
    epoch_loss,
    epoch_metric,
    finding,
    identical,
    just_closed,
    layers_in_order,
    stat,
)
from deeplocalize.config import Config
from deeplocalize.detectors import Detector
from deeplocalize.diagnosis import Finding
from deeplocalize.model import LayerInfo, ModelInfo
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Symptom

UNCHANGED_EPOCHS = 5
LOSS_EPOCHS = 5
ACCURACY_EPOCHS = 20
SATURATED_FRACTION = 0.5
DEAD_FRACTION = 0.7
VANISHING_MEAN_ABS = 1e-7
LR_RATIO_HIGH = 0.1
LR_RATIO_LOW = 1e-5

DEFAULT_FIX: dict[Symptom, tuple[Category, ...]] = {
    Symptom.NUMERICAL_ERROR: (Category.ACTIVATION, Category.LOSS),
    Symptom.UNCHANGED_WEIGHTS: (Category.OPTIMIZER, Category.INITIALIZATION),
    Symptom.SATURATED_ACTIVATION: (Category.ACTIVATION,),
    Symptom.DEAD_UNITS: (Category.ACTIVATION, Category.INITIALIZATION),
    Symptom.OUTPUT_OUT_OF_RANGE: (Category.ACTIVATION, Category.LOSS),
    Symptom.LOSS_NOT_DECREASING: (Category.LOSS, Category.OPTIMIZER),
    Symptom.ACCURACY_NOT_INCREASING: (Category.ARCHITECTURE, Category.OPTIMIZER),
    Symptom.VANISHING_GRADIENT: (Category.ARCHITECTURE, Category.ACTIVATION),
}

_RANGES: dict[str, tuple[float, float]] = {
    "sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, math.inf),
    "softplus": (0.0, math.inf), "elu": (-1.0, math.inf), "hard_sigmoid": (0.0, 1.0),
}
_CLASS_INDEX_LOSSES = {"cross_entropy", "sparse_categorical_crossentropy", "nll"}


def _layer_symptom(ends: Sequence[StepRecord], layer: LayerInfo) -> tuple[Symptom, Phase, str] | None:
    """Numerical error, unchanged weights, saturation or dead nodes at one layer (``ends``: epoch ends)."""
    record = ends[-1]
    for channel in (Channel.OUTPUT, Channel.WEIGHTS, Channel.WEIGHT_GRAD):
        vec = record.get(layer.index, channel)
        if vec is None:
            continue
        nonfinite = stat(record, layer.index, channel, "nonfinite")
        mean = stat(record, layer.index, channel, "mean")
        if (nonfinite > 0) or (not math.isnan(mean) and (math.isinf(mean) or mean == 0.0)):
            text = f"mean of {channel} is {mean} ({nonfinite:g} NaN/Inf)"
            return Symptom.NUMERICAL_ERROR, channel.phase, text
    if len(ends) >= UNCHANGED_EPOCHS and record.get(layer.index, Channel.WEIGHTS) is not None:
        means = [stat(r, layer.index, Channel.WEIGHTS, "mean") for r in ends[-UNCHANGED_EPOCHS:]]
        if identical(_arr(means)):
            return Symptom.UNCHANGED_WEIGHTS, Phase.WEIGHTS, f"weights unchanged over {len(means)} epochs"
    activation = (layer.activation or "").lower()
    sat = stat(record, layer.index, Channel.OUTPUT, "sat_frac")
    if activation in ("sigmoid", "tanh") and sat > SATURATED_FRACTION:
        return Symptom.SATURATED_ACTIVATION, Phase.FORWARD, f"{sat:.0%} of {activation} inputs beyond +/-5"
    zero = stat(record, layer.index, Channel.OUTPUT, "zero_frac")
    if activation == "relu" and zero >= DEAD_FRACTION:
        return Symptom.DEAD_UNITS, Phase.FORWARD, f"{zero:.0%} of ReLU outputs <= 0"
    return None


def _label_range(trace: Trace, model: ModelInfo) -> tuple[float, float] | None:
    data = model.data
    if data is not None and data.y_min is not None and data.y_max is not None:
        low, high = data.y_min, data.y_max
    else:
        target = trace.first.target if trace.first is not None else None
        if target is None:
            return None
        low, high = float(target[2]), float(target[3])
    if model.loss is not None and model.loss.name in _CLASS_INDEX_LOSSES:
        return (0.0, 1.0)  # class indices stand for one-hot targets
    return low, high


def _input_outside_unit(trace: Trace, model: ModelInfo) -> bool:
    data = model.data
    if data is not None and data.x_min is not None and data.x_max is not None:
        return data.x_min < -1.0 or data.x_max > 1.0
    first = trace.first.data if trace.first is not None else None
    if first is None:
        return False
    return bool(first[2] < -1.0 or first[3] > 1.0)


def _lr_ratio(record: StepRecord, model: ModelInfo, layer: LayerInfo | None) -> float | None:
    """lr * ||g|| / ||W|| at the given layer (else the last layer with weights)."""
    lr = record.lr if record.lr is not None else (model.optimizer.lr if model.optimizer else None)
    if lr is None:
        return None
    candidates = [layer] if layer is not None else []
    candidates += sorted(model.layers, key=lambda x: -x.index)
    for cand in candidates:
        grad = stat(record, cand.index, Channel.WEIGHT_GRAD, "norm")
        weights = stat(record, cand.index, Channel.WEIGHTS, "norm")
        if not math.isnan(grad) and not math.isnan(weights) and weights > 0:
            return lr * grad / weights
    return None


def decide(symptom: Symptom, trace: Trace, model: ModelInfo, record: StepRecord,
           layer: LayerInfo | None) -> list[Category]:
    """The fix decision procedure: data, then learning rate, then the symptom's defaults."""
    first: list[Category] = []
    if _input_outside_unit(trace, model):
        first = [Category.DATA]
    else:
        ratio = _lr_ratio(record, model, layer)
        if ratio is not None and (ratio > LR_RATIO_HIGH or ratio < LR_RATIO_LOW):
            first = [Category.LEARNING_RATE]
    return list(dict.fromkeys([*first, *DEFAULT_FIX[symptom]]))


def _check_epoch(trace: Trace, model: ModelInfo, epochs: Sequence[Sequence[StepRecord]]) -> list[Finding]:
    record = epochs[-1][-1]
    ends = [group[-1] for group in epochs]
    layers = layers_in_order(trace, model)
    hit: tuple[Symptom, Phase, LayerInfo | None, str] | None = None
    loss = epoch_loss(epochs[-1])
    if loss is not None and not math.isfinite(loss):
        hit = (Symptom.NUMERICAL_ERROR, Phase.LOSS, None, f"epoch loss {loss}")
    for layer in layers if hit is None else []:
        found = _layer_symptom(ends, layer)
        if found is not None:
            hit = (found[0], found[1], layer, found[2])
            break
    output = max(layers, key=lambda x: x.index) if layers else None
    if hit is None and output is not None:
        bounds = _RANGES.get((output.activation or "linear").lower())
        labels = _label_range(trace, model)
        if bounds is not None and labels is not None and (labels[0] < bounds[0] or labels[1] > bounds[1]):
            hit = (Symptom.OUTPUT_OUT_OF_RANGE, Phase.FORWARD, output,
                   f"labels in [{labels[0]:g}, {labels[1]:g}] outside {output.activation}'s range")
    if hit is None and len(epochs) >= LOSS_EPOCHS and identical(
            _arr([epoch_loss(g) for g in epochs[-LOSS_EPOCHS:]])):
        hit = (Symptom.LOSS_NOT_DECREASING, Phase.LOSS, None, "loss unchanged over 5 epochs")
    if hit is None and len(epochs) >= ACCURACY_EPOCHS and identical(
            _arr([epoch_metric(g, "accuracy") for g in epochs[-ACCURACY_EPOCHS:]])):
        hit = (Symptom.ACCURACY_NOT_INCREASING, Phase.METRIC, None, "accuracy unchanged over 20 epochs")
    if hit is None:
        for layer in layers:
            grad = record.get(layer.index, Channel.WEIGHT_GRAD)
            if grad is None:
                continue
            finite = grad[0] - (0 if math.isnan(grad[1]) else grad[1])
            rms = stat(record, layer.index, Channel.WEIGHT_GRAD, "norm") / math.sqrt(max(finite, 1.0))
            if rms < VANISHING_MEAN_ABS:
                hit = (Symptom.VANISHING_GRADIENT, Phase.BACKWARD, layer, f"mean |gradient| <= {rms:.2g}")
                break
    if hit is None:
        return []
    symptom, phase, layer, text = hit
    return [finding(symptom, phase, layer, record.step,
                    f"DeepDiagnosis: {symptom} at {layer.name if layer else phase}: {text}",
                    decide(symptom, trace, model, record, layer), detected_at=record.step)]


def _arr(values: Sequence[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def deepdiagnosis(trace: Trace, model: ModelInfo, config: Config, final: bool = False) -> list[Finding]:
    """Runs the epoch-end checks when an epoch has just ended."""
    epochs = just_closed(trace, model, final)
    return _check_epoch(trace, model, epochs) if epochs else []


DEEPDIAGNOSIS = [
    Detector("deepdiagnosis", deepdiagnosis, "step"),
    Detector("deepdiagnosis_final", partial(deepdiagnosis, final=True), "check"),
]
