"""constant_output: a layer whose output does not vary although it should.

A layer is constant when its whole output tensor has std <= ``constant_std_tol * max(1, |mean|)`` in
``tensor_sustain_frac`` of the last ``tensor_min_points`` measured steps, while its input does vary: only the
producer is reported, never a Flatten, Dropout or any layer that merely passes a constant on. A softmax over a
single unit (always 1.0) is reported at step 1 from the model facts.

Constant by construction and therefore never a fault here: the mean of a softmax output (always 1/K), the
mean/std of a BatchNorm or LayerNorm output (0 and 1 by design), pass-through layers. Only the spread of the
values over the whole tensor is judged, never a statistic that is fixed by the layer's definition.
"""

from __future__ import annotations

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors import register
from deeplocalize.detectors.activations import dead_causes
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Symptom


def _softmax_one_unit(model: ModelInfo, index: int) -> bool:
    layer = model.layer(index)
    return (
        layer is not None and (layer.activation or "").lower() == "softmax" and layer.softmax_axis_size == 1
    )


def _softmax_fix(model: ModelInfo, index: int) -> list[CauseHint]:
    lname = cm.name(model, index)
    loss = model.loss.name if model.loss is not None else "the loss"
    return [
        cm.cause(
            Category.ACTIVATION,
            cw.CONSTANT_SOFTMAX_ONE_UNIT,
            f"layer {lname} applies softmax to 1 unit, which always outputs 1.0: use "
            "sigmoid with binary cross-entropy (or 2 units with softmax)",
            model,
            index,
        ),
        cm.cause(
            Category.LOSS,
            cw.CONSTANT_SOFTMAX_ONE_UNIT_LOSS,
            f"with one output unit, {loss} should be a binary cross-entropy "
            "(BCEWithLogitsLoss / binary_crossentropy)",
            model,
            None,
        ),
    ]


@register("constant_output_preflight", "first")
def constant_output_preflight(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """A softmax over an axis of size 1 outputs 1.0 whatever its input: report at step 1."""
    return [
        cm.finding(
            Symptom.CONSTANT_OUTPUT,
            Phase.FORWARD,
            model,
            trace,
            layer.index,
            trace.last_step or 1,
            f"layer {cm.name(model, layer.index)} applies softmax to a single unit: it always outputs 1.0",
            {"softmax_axis_size": 1, "rule": "softmax_one_unit"},
            _softmax_fix(model, layer.index),
        )
        for layer in model.layers
        if _softmax_one_unit(model, layer.index)
    ]


def _constant(mat: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """(is constant, is measured) per row of a summary matrix."""
    std, mean, numel = mat[:, sm.STD], mat[:, sm.MEAN], mat[:, sm.NUMEL]
    measured = np.isfinite(std) & np.isfinite(mean) & (numel > 1)
    const = std <= tol * np.fmax(1.0, np.abs(mean))  # NaN compares False; unmeasured rows are masked
    return const & measured, measured


@register("constant_output", "check")
def constant_output(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """Layers producing a constant tensor from a varying input, sustained."""
    tol = config.constant_std_tol
    order = cm.indices(trace, Channel.OUTPUT)
    steps = trace.steps()
    found = []
    for pos, i in enumerate(order):
        if cm.is_pass_through(model, i):
            continue
        const, measured = _constant(trace.matrix(i, Channel.OUTPUT), tol)
        step = cm.first_sustained(
            steps, cm.as_cond(const, measured), cm.sustain_points(config, trace), config.tensor_sustain_frac
        )
        if step is None:
            continue
        rows = (steps >= step) & const
        if _input_constant(trace, order, pos, tol)[rows].mean() >= 0.5:
            continue  # propagated a constant input
        row = int(np.nonzero(steps == step)[0][0])
        vec = trace.matrix(i, Channel.OUTPUT)[row]
        value = float(vec[sm.MEAN])
        lname = cm.name(model, i)
        found.append(
            cm.finding(
                Symptom.CONSTANT_OUTPUT,
                Phase.FORWARD,
                model,
                trace,
                i,
                step,
                f"layer {lname} outputs the constant {cm.fmt(value)} for every sample from step {step}",
                {"value": value, "std": float(vec[sm.STD]), "numel": float(vec[sm.NUMEL])},
                _causes(trace, model, i, value),
            )
        )
    return found


def _input_constant(trace: Trace, order: list[int], pos: int, tol: float) -> np.ndarray:
    """Per step: was the layer's input constant (INPUT std if measured, else the predecessor's output)?"""
    i = order[pos]
    inp = trace.matrix(i, Channel.INPUT)
    if np.isfinite(inp[:, sm.STD]).any():
        return _constant(inp, tol)[0]
    if pos > 0:
        return _constant(trace.matrix(order[pos - 1], Channel.OUTPUT), tol)[0]
    return _constant(trace.data(), tol)[0]


def _causes(trace: Trace, model: ModelInfo, index: int, value: float) -> list[CauseHint]:
    act = cm.activation(model, index)
    lname = cm.name(model, index)
    if _softmax_one_unit(model, index) or (act == "softmax" and abs(value - 1.0) < 1e-6):
        return _softmax_fix(model, index)
    if act in cm.RELU_FAMILY and abs(value) < 1e-12:
        return dead_causes(trace, model, index, 1.0, False)
    causes: list[CauseHint] = []
    w = trace.matrix(index, Channel.WEIGHTS) if trace.has(index, Channel.WEIGHTS) else None
    if w is not None and np.nanmax(np.append(w[:, sm.NORM], np.nan)) == 0:
        causes.append(
            cm.cause(
                Category.INITIALIZATION,
                cw.CONSTANT_ZERO_WEIGHTS,
                f"the weights of layer {lname} are all zero: use a random (He/Glorot) initialization",
                model,
                index,
            )
        )
    if act in cm.SATURATING:
        causes.append(
            cm.cause(
                Category.ACTIVATION,
                cw.CONSTANT_SATURATED,
                f"layer {lname} ({act}) is stuck at {cm.fmt(value)}: its "
                "inputs saturate it; use relu or normalize its inputs",
                model,
                index,
            )
        )
        causes.append(cm.cause(Category.LEARNING_RATE, cw.CONSTANT_SATURATED_LR,
                               cm.lr_advice(trace, model), model, None))
    causes.append(
        cm.cause(
            Category.ARCHITECTURE,
            cw.CONSTANT_UPSTREAM,
            f"the output of layer {lname} no longer depends on its "
            "input: check the layers before it for dead or saturated units",
            model,
            index,
        )
    )
    return causes
