"""exploding_tensor: finite values grown far beyond any healthy scale, before they overflow into NaN/Inf.

Weights: a finite |w| at or above ``exploding_weight_abs``. Forward outputs: |x| at or above
``exploding_output_abs`` and ``exploding_output_vs_data`` times the largest |input| or |target| of that step
(a regression output as large as its targets is not exploding). Reported at the producer: the earliest layer
to explode (weights), or a layer whose predecessor's output had not exploded at that step (forward).
"""

from __future__ import annotations

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import fixes
from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors import register
from deeplocalize.diagnosis import Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Symptom


@register("exploding_tensor", "check")
def exploding_tensor(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """Exploded weights (one finding, the earliest layer) and exploded forward outputs (producers only)."""
    return [f for f in (_weights(trace, model, config), *_outputs(trace, model, config)) if f is not None]


def _first_step(steps: np.ndarray, mask: np.ndarray) -> int | None:
    hit = np.nonzero(mask)[0]
    return int(steps[hit[0]]) if hit.size else None


def _weights(trace: Trace, model: ModelInfo, config: Config) -> Finding | None:
    steps = trace.steps()
    first: dict[int, tuple[int, float]] = {}
    for i in cm.indices(trace, Channel.WEIGHTS):
        mags = cm.max_abs_series(trace.matrix(i, Channel.WEIGHTS))
        with np.errstate(invalid="ignore"):
            step = _first_step(steps, np.isfinite(mags) & (mags >= config.exploding_weight_abs))
        if step is not None:
            first[i] = (step, float(np.nanmax(mags)))
    if not first:
        return None
    index = min(first, key=lambda i: (first[i][0], -first[i][1]))
    step, mag = first[index]
    lname = cm.name(model, index)
    causes = [
        cm.cause(
            Category.LEARNING_RATE,
            cw.EXPLODING_WEIGHTS_LR,
            f"the weights of layer {lname} grew to |w| = {cm.fmt(mag)}: {cm.lr_advice(trace, model)}, "
            "or clip the gradients",
            model,
            index,
        )
    ]
    if step <= 1:
        causes.append(
            cm.cause(
                Category.INITIALIZATION,
                cw.EXPLODING_WEIGHTS_INIT,
                f"layer {lname} starts with |w| = {cm.fmt(mag)}: use the default (He/Glorot) initialization",
                model,
                index,
            )
        )
    return cm.finding(
        Symptom.EXPLODING_TENSOR,
        Phase.WEIGHTS,
        model,
        trace,
        index,
        step,
        f"the weights of layer {lname} exploded (max |w| = {cm.fmt(mag)}) from step {step}",
        {
            "max_abs": mag,
            "threshold": config.exploding_weight_abs,
            "layers": cm.names(model, sorted(first)),
            "lr": fixes.current_lr(model, trace),
        },
        causes,
    )


def _outputs(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    steps = trace.steps()
    ref = np.fmax(cm.max_abs_series(trace.data()), cm.max_abs_series(trace.target()))
    ref = np.fmax(np.nan_to_num(ref, nan=1.0), 1.0)
    order = cm.indices(trace, Channel.OUTPUT)
    exploded: dict[int, np.ndarray] = {}
    for i in order:
        mags = cm.max_abs_series(trace.matrix(i, Channel.OUTPUT))
        with np.errstate(invalid="ignore"):
            exploded[i] = (
                np.isfinite(mags)
                & (mags >= config.exploding_output_abs)
                & (mags >= config.exploding_output_vs_data * ref)
            )
    found: list[Finding] = []
    for pos, i in enumerate(order):
        step = _first_step(steps, exploded[i])
        if step is None:
            continue
        row = int(np.nonzero(steps == step)[0][0])
        if pos > 0 and exploded[order[pos - 1]][row]:
            continue  # the predecessor had exploded at that step: propagated, not produced
        mag = float(cm.max_abs(trace.matrix(i, Channel.OUTPUT)[row]))
        lname = cm.name(model, i)
        data_mag = cm.data_max_abs(trace)
        causes = [
            cm.cause(
                Category.LEARNING_RATE,
                cw.EXPLODING_OUTPUT_LR,
                f"the output of layer {lname} reached |x| = {cm.fmt(mag)}: {cm.lr_advice(trace, model)}",
                model,
                i,
            )
        ]
        if np.isfinite(data_mag) and data_mag > 10:
            causes.append(
                cm.cause(
                    Category.DATA,
                    cw.EXPLODING_OUTPUT_DATA,
                    f"the inputs reach |x| = {cm.fmt(data_mag)}: normalize them (e.g. "
                    "standardize to mean 0, std 1)",
                    model,
                    None,
                )
            )
        if sm.is_finite(trace.matrix(i, Channel.OUTPUT)[row]) and cm.activation(model, i) in (None, "linear"):
            causes.append(
                cm.cause(
                    Category.ARCHITECTURE,
                    cw.EXPLODING_OUTPUT_UNBOUNDED,
                    f"bound the activations after layer {lname} (add BatchNorm/LayerNorm or a "
                    "bounded activation)",
                    model,
                    i,
                )
            )
        found.append(
            cm.finding(
                Symptom.EXPLODING_TENSOR,
                Phase.FORWARD,
                model,
                trace,
                i,
                step,
                f"the output of layer {lname} exploded (max |x| = {cm.fmt(mag)}) at step {step}",
                {
                    "max_abs": mag,
                    "reference_max_abs": float(ref[row]),
                    "threshold": config.exploding_output_abs,
                },
                causes,
            )
        )
    return found
