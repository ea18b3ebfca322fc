"""The AUTOTRAINER (ICSE 2021) problem checks and repair order, as replay rules (from the paper).

Gradient checks on the first batch of every epoch, with g_first / g_last the weight-gradient norms of the
first and last layers that have weights: vanishing gradient when ||g_first|| / ||g_last|| < 1e-3 and
||g_first|| < 1e-4; exploding gradient when the ratio > 70 or any gradient (or the loss) is NaN/Inf; dying
ReLU when >= 70% of all weight-gradient entries are exactly 0. Accuracy checks at each epoch end, over the
accuracy sequence (the first batch's accuracy, then each epoch's mean): oscillating loss when accuracy
changes direction with a swing >= 0.03 in >= 20% of the epochs (at least 3 epochs); slow convergence when
the best gain between consecutive points is < 0.01 (at least 3 epochs). No layer is named. The answer is
the symptom's repairs in AUTOTRAINER's order (SELU/ReLU -> activation, BatchNorm -> architecture, gradient
clipping and other optimizer -> optimizer, other lr -> learning_rate, other init -> initialization),
restricted to the repairs it applies to that problem (``REPAIRS``, our reading of the paper).
"""

from __future__ import annotations

import math
from functools import partial
from itertools import pairwise

from benchmarks.baselines.common import (
    epoch_metric,
    epoch_started,
    finding,
    just_closed,
    layers_in_order,
    stat,
)
from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.detectors import Detector
from deeplocalize.diagnosis import Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Symptom

VANISH_RATIO = 1e-3
VANISH_FIRST_NORM = 1e-4
EXPLODE_RATIO = 70.0
DYING_ZERO_FRACTION = 0.7
OSCILLATION_SWING = 0.03
OSCILLATION_FRACTION = 0.2
SLOW_GAIN = 0.01
MIN_EPOCHS = 3

_ACT, _ARCH, _OPT, _LR, _INIT = (Category.ACTIVATION, Category.ARCHITECTURE, Category.OPTIMIZER,
                                 Category.LEARNING_RATE, Category.INITIALIZATION)
REPAIRS: dict[Symptom, tuple[Category, ...]] = {
    Symptom.VANISHING_GRADIENT: (_ACT, _ARCH, _OPT, _LR, _INIT),
    Symptom.EXPLODING_GRADIENT: (_ARCH, _OPT, _LR, _INIT),
    Symptom.DEAD_UNITS: (_ACT, _ARCH, _OPT, _LR, _INIT),
    Symptom.OSCILLATING_LOSS: (_ARCH, _OPT, _LR),
    Symptom.SLOW_CONVERGENCE: (_OPT, _LR),
}


def gradient_checks(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """Vanishing / exploding gradient and dying ReLU on the first batch of each epoch."""
    record = trace.last_record
    if record is None or not epoch_started(trace, model):
        return []
    step = record.step
    with_grads = [x for x in layers_in_order(trace, model)
                  if record.get(x.index, Channel.WEIGHT_GRAD) is not None]
    nonfinite = any(not sm.is_finite(record.get(x.index, Channel.WEIGHT_GRAD)) for x in with_grads)
    if nonfinite or (record.loss is not None and not math.isfinite(record.loss)):
        return [_hit(Symptom.EXPLODING_GRADIENT, step, "NaN/Inf in gradients or loss")]
    if not with_grads:
        return []
    first = stat(record, with_grads[0].index, Channel.WEIGHT_GRAD, "norm")
    last = stat(record, with_grads[-1].index, Channel.WEIGHT_GRAD, "norm")
    if len(with_grads) >= 2 and last > 0 and not math.isnan(first):
        ratio = first / last
        if ratio < VANISH_RATIO and first < VANISH_FIRST_NORM:
            return [_hit(Symptom.VANISHING_GRADIENT, step, f"||g_first||/||g_last|| = {ratio:.2g}")]
        if ratio > EXPLODE_RATIO:
            return [_hit(Symptom.EXPLODING_GRADIENT, step, f"||g_first||/||g_last|| = {ratio:.3g}")]
    numel = [stat(record, x.index, Channel.WEIGHT_GRAD, "numel") for x in with_grads]
    zeros = [stat(record, x.index, Channel.WEIGHT_GRAD, "zero_frac") for x in with_grads]
    total = sum(n for n in numel if not math.isnan(n))
    if total > 0:
        zero = sum(n * z for n, z in zip(numel, zeros, strict=True) if not math.isnan(n * z)) / total
        if zero >= DYING_ZERO_FRACTION:
            return [_hit(Symptom.DEAD_UNITS, step, f"{zero:.0%} of gradient entries are 0 (dying ReLU)")]
    return []


def accuracy_checks(trace: Trace, model: ModelInfo, config: Config, final: bool = False) -> list[Finding]:
    """Oscillating loss and slow convergence at epoch ends (classification: needs an accuracy metric)."""
    epochs = just_closed(trace, model, final)
    if not epochs or len(epochs) < MIN_EPOCHS:
        return []
    start = trace.first.metrics.get("accuracy") if trace.first is not None else None
    accs = [epoch_metric(group, "accuracy") for group in epochs]
    if any(a is None for a in accs):
        return []
    series = ([start] if start is not None else []) + accs
    diffs = [b - a for a, b in pairwise(series)]
    step = epochs[-1][-1].step
    swings = sum(1 for prev, cur in pairwise(diffs)
                 if abs(cur) >= OSCILLATION_SWING and cur * prev < 0)
    if swings >= OSCILLATION_FRACTION * len(epochs):
        return [_hit(Symptom.OSCILLATING_LOSS, step, f"accuracy swings in {swings} of {len(epochs)} epochs")]
    if max(diffs) < SLOW_GAIN:
        return [_hit(Symptom.SLOW_CONVERGENCE, step, f"best accuracy gain {max(diffs):.3g} < {SLOW_GAIN}")]
    return []


def _hit(symptom: Symptom, step: int, text: str) -> Finding:
    phase = Phase.BACKWARD if "gradient" in str(symptom) or symptom == Symptom.DEAD_UNITS else Phase.METRIC
    return finding(symptom, phase, None, step, f"AUTOTRAINER: {symptom}: {text}", REPAIRS[symptom])


AUTOTRAINER = [
    Detector("autotrainer_gradients", gradient_checks, "step"),
    Detector("autotrainer_accuracy", accuracy_checks, "step"),
    Detector("autotrainer_accuracy_final", partial(accuracy_checks, final=True), "check"),
]
