"""dead_units (ReLU family) and saturated_activation (hidden sigmoid/tanh), sustained over the window.

dead_units: ``dead_frac`` (units <= 0 for every sample of the batch) at least ``config.dead_frac``, judged
only when each unit saw ``min_values_per_unit`` values. saturated_activation: ``sat_frac`` above
``config.saturated_frac`` for a sigmoid/tanh layer that some trainable layer follows (a saturated output layer
is a confident classifier, not a fault). Both must hold in ``tensor_sustain_frac`` of the last
``tensor_min_points`` measured steps.
"""

from __future__ import annotations

import itertools

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors import register
from deeplocalize.detectors._curve import learned_since_start, provisional
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Severity, Symptom


def sustained_fraction(
    trace: Trace, model: ModelInfo, config: Config, index: int, col: int, threshold: float, per_unit: bool
) -> tuple[int, float, bool] | None:
    """(first step, recent median, held from the first measured step) of ``stat >= threshold``, or None."""
    mat = trace.matrix(index, Channel.OUTPUT)
    values = mat[:, col]
    measured = np.isfinite(values)
    layer = model.layer(index)
    if per_unit and layer is not None and layer.units:
        with np.errstate(invalid="ignore"):
            measured &= mat[:, sm.NUMEL] / layer.units >= config.min_values_per_unit
    cond = cm.as_cond(values >= threshold, measured)  # as_cond masks the unmeasured (non-finite) rows
    points = cm.sustain_points(config, trace)
    step = cm.first_sustained(trace.steps(), cond, points, config.tensor_sustain_frac)
    if step is None:
        return None
    recent = values[measured][-cm.sustain_points(config, trace) :]
    from_start = bool(values[measured][0] >= threshold)
    return step, float(np.median(recent)), from_start


#: A layer with (up to rounding) every unit dead passes nothing forward: a fault whatever the loss does.
ALL_DEAD = 0.999


@register("dead_units", "check")
def dead_units(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """ReLU-family layers whose units output 0 for every sample, sustained. A fault when the whole layer is
    dead, or when the run has not learned (its loss is not well below its initial level: the dead units
    stopped the training), which early in a run still going is provisional (it may yet learn: never a stop);
    otherwise a warning (the live units carry the learning, as in a head fed sparse features or an encoder
    with spare width), which becomes a fault if a stall it explains is observed later
    (``severity.EXPLAINS``)."""
    found = []
    learned = learned_since_start(trace)
    for i in cm.indices(trace, Channel.OUTPUT):
        if cm.activation(model, i) not in cm.RELU_FAMILY:
            continue
        hit = sustained_fraction(trace, model, config, i, sm.DEAD_FRAC, config.dead_frac, per_unit=True)
        if hit is None:
            continue
        step, frac, from_start = hit
        lname = cm.name(model, i)
        all_dead = frac >= ALL_DEAD
        note = "; the loss fell well below its start, so the live units carry the learning" if (
            learned and not all_dead) else ""
        finding = cm.finding(
            Symptom.DEAD_UNITS,
            Phase.FORWARD,
            model,
            trace,
            i,
            step,
            f"{cm.pct(frac)} of the units of layer {lname} output 0 for every sample (dead ReLU){note}",
            {"dead_frac": frac, "threshold": config.dead_frac, "dead_from_first_step": from_start,
             "learned_since_start": learned},
            dead_causes(trace, model, i, frac, from_start),
        )
        if all_dead:
            found.append(finding.with_severity(Severity.FAULT))
        elif learned:
            found.append(finding.with_severity(Severity.WARNING))
        else:  # the dead units stopped the training; early in a run still going, it may yet learn
            found.append(provisional(finding.with_severity(Severity.FAULT), trace, config))
    return found + _dead_behind_functional(trace, model, config, {f.layer.index for f in found if f.layer})


def _dead_behind_functional(trace: Trace, model: ModelInfo, config: Config, named: set[int]) -> list[Finding]:
    """A ReLU applied in ``forward()`` (``F.relu``, ``torch.relu``: no layer of its own) with every unit dead:
    the weighted layer before it gets an exactly zero gradient at every step while the next weighted layer
    receives only zeros, sustained at statistics steps. The layer whose outputs are all cut is named."""
    weighted = sorted(layer.index for layer in model.layers if layer.params > 0)
    found = []
    for i, nxt in itertools.pairwise(weighted):
        if i in named or not (trace.has(i, Channel.WEIGHT_GRAD) and trace.has(nxt, Channel.INPUT)):
            continue
        if any(cm.activation(model, j) in cm.RELU_FAMILY for j in range(i, nxt)):
            continue  # a ReLU of its own (the layer's, or a layer between): measured, judged above
        seen = trace.matrix(nxt, Channel.INPUT)
        grad = trace.matrix(i, Channel.WEIGHT_GRAD)[:, sm.NORM]
        measured = np.isfinite(seen[:, sm.MAX]) & np.isfinite(seen[:, sm.MIN]) & np.isfinite(grad)
        cut = (seen[:, sm.MAX] == 0) & (seen[:, sm.MIN] == 0) & (grad == 0)
        step = cm.first_sustained(trace.steps(), cm.as_cond(cut, measured), cm.sustain_points(config, trace),
                                  config.tensor_sustain_frac)
        if step is None:
            continue
        lname, nname = cm.name(model, i), cm.name(model, nxt)
        from_start = bool(cut[measured][0])
        message = (f"layer {nname} receives only zeros and layer {lname} gets an exactly zero gradient at "
                   f"every step: the ReLU applied to {lname}'s output in forward() has every unit dead")
        causes = dead_causes(trace, model, i, 1.0, from_start)
        found.append(cm.finding(Symptom.DEAD_UNITS, Phase.FORWARD, model, trace, i, step, message,
                                {"dead_frac": 1.0, "functional_activation": True,
                                 "dead_from_first_step": from_start}, causes).with_severity(Severity.FAULT))
    return found


def dead_causes(trace: Trace, model: ModelInfo, index: int, frac: float, from_start: bool) -> list[CauseHint]:
    """Root-cause votes for a dead ReLU layer: initialization if dead from step 1, else the learning rate."""
    lname = cm.name(model, index)
    owner = model.layer(index)
    if owner is None or owner.params == 0:
        owner = cm.previous_param_layer(model, index)
    oname = cm.name(model, owner.index) if owner is not None else lname
    oidx = owner.index if owner is not None else index
    init = cm.cause(
        Category.INITIALIZATION,
        cw.DEAD_INIT_FROM_START if from_start else cw.DEAD_INIT_LATER,
        f"{cm.pct(frac)} of the units of {lname} are dead: the initial weights/biases of {oname} make "
        "their inputs <= 0; use He initialization with zero biases",
        model,
        oidx,
    )
    kind = cm.activation(model, index)
    kind = kind if kind in cm.RELU_FAMILY else "relu"  # (a relu in forward() after a weighted layer)
    act = cm.cause(
        Category.ACTIVATION,
        cw.DEAD_ACTIVATION,
        f"layer {lname} uses {kind} and {cm.pct(frac)} of its units are dead: use leaky_relu or elu",
        model,
        index,
    )
    lr = cm.cause(
        Category.LEARNING_RATE,
        cw.DEAD_LR_FROM_START if from_start else cw.DEAD_LR_LATER,
        f"the units of {lname} died during training: {cm.lr_advice(trace, model)}",
        model,
        None,
    )
    return [init, act, lr] if from_start else [lr, act, init]


@register("saturated_activation", "check")
def saturated_activation(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """Hidden sigmoid/tanh layers with most outputs in the saturated band, sustained."""
    last = cm.last_param_index(model, trace)
    found = []
    for i in cm.indices(trace, Channel.OUTPUT):
        act = cm.activation(model, i)
        if act not in cm.SATURATING or last is None or i >= last:
            continue  # only hidden layers: a trainable layer must follow
        hit = sustained_fraction(trace, model, config, i, sm.SAT_FRAC, config.saturated_frac, per_unit=False)
        if hit is None:
            continue
        step, frac, from_start = hit
        lname = cm.name(model, i)
        data_mag = cm.data_max_abs(trace)
        causes = [
            cm.cause(
                Category.ACTIVATION,
                cw.SATURATED_ACT,
                f"layer {lname} uses {act} and {cm.pct(frac)} of its outputs are saturated: use relu, "
                "or normalize its inputs (BatchNorm)",
                model,
                i,
            )
        ]
        if np.isfinite(data_mag) and data_mag > 10:
            causes.append(
                cm.cause(
                    Category.DATA,
                    cw.SATURATED_DATA_FROM_START if from_start else cw.SATURATED_DATA_LATER,
                    f"inputs reach |x| = {cm.fmt(data_mag)}: normalize them (mean 0, std 1)",
                    model,
                    None,
                )
            )
        if from_start:
            causes.append(
                cm.cause(
                    Category.INITIALIZATION,
                    cw.SATURATED_INIT_FROM_START,
                    f"layer {lname} is saturated from the first step: use Glorot initialization",
                    model,
                    i,
                )
            )
        else:
            causes.append(
                cm.cause(
                    Category.LEARNING_RATE,
                    cw.SATURATED_LR_LATER,
                    f"layer {lname} saturated during training: {cm.lr_advice(trace, model)}",
                    model,
                    None,
                )
            )
        found.append(
            cm.finding(
                Symptom.SATURATED_ACTIVATION,
                Phase.FORWARD,
                model,
                trace,
                i,
                step,
                f"layer {lname} uses {act} and {cm.pct(frac)} of its outputs are saturated",
                {
                    "sat_frac": frac,
                    "threshold": config.saturated_frac,
                    "saturated_from_first_step": from_start,
                },
                causes,
            )
        )
    return found
