"""The pre-flight detector: runs once at step 1, from the model facts and the first batch.

Output activation vs loss vs labels (``preflight_output``), input scale (``preflight_data``),
and the first loss against -log(1/K) for K classes (TheDeepChecker): a first loss far above it is
poor_initialization, or evidence for an activation-loss mismatch already found.
"""

from __future__ import annotations

import math

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import fixes
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors import register
from deeplocalize.detectors._facts import loss_family, loss_scale, n_classes, output_layer, output_weights
from deeplocalize.detectors.preflight_data import (
    check_input_scale,
    check_normalizer_bypass,
    check_target_scale,
)
from deeplocalize.detectors.preflight_output import check_output
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Phase, Severity, Symptom


@register("preflight", "first")
def preflight(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """Every pre-flight check; each finding has step 1 (the first step) and phase static, data or loss."""
    output = check_output(model) + check_loss_shapes(model) + check_batch_as_sequence(trace, model)
    data = check_input_scale(trace, model, config) + check_normalizer_bypass(trace, model, config)
    if not output:
        data += check_target_scale(trace, model, config)
    return (output + data + check_initial_loss(trace, model, config, output, data)
            + check_hidden_softmax(model))


def check_loss_shapes(model: ModelInfo) -> list[Finding]:
    """A value loss (MSE, L1, Huber) given outputs and targets of shapes that broadcast to a larger one:
    (N, 1) outputs against (N,) targets compare every output with every target, (N, N), so the model can
    only learn the batch mean. PyTorch warns of it ("Using a target size that is different to the input
    size") and trains on. A constant target row, (1, D) against (N, D), broadcasts to no more elements than
    the outputs and is left alone."""
    shapes = model.extra.get("loss_shapes")
    if loss_family(model) != "value" or not shapes or len(shapes) != 2:
        return []
    outputs, targets = (tuple(int(d) for d in shape) for shape in shapes)
    try:
        joint = tuple(int(d) for d in np.broadcast_shapes(outputs, targets))
    except ValueError:  # the loss call itself fails: the framework says why
        return []
    if math.prod(joint) <= max(math.prod(outputs), math.prod(targets)):
        return []
    loss = model.loss.framework_name or model.loss.name if model.loss else "the loss"
    message = (f"{loss} compares outputs of shape {outputs} with targets of shape {targets}: it broadcasts "
               f"them to {joint}, every output against every target, so the model can only learn their mean")
    fix = (f"give {loss} outputs and targets of one shape: flatten the outputs (model(x).squeeze(-1)) or "
           f"reshape the targets to {outputs}")
    return [Finding(symptom=Symptom.ACTIVATION_LOSS_MISMATCH, phase=Phase.LOSS, layer=None, step=1,
                    message=message, evidence={"output_shape": list(outputs), "target_shape": list(targets),
                                               "broadcast_shape": list(joint), "steps_needed": 1},
                    causes=[CauseHint(Category.LOSS, cw.LOSS_BROADCAST, fix)], detected_at=1)]


def check_batch_as_sequence(trace: Trace, model: ModelInfo) -> list[Finding]:
    """A torch recurrent layer left at ``batch_first=False`` whose input's dimension 0 (time, for it) has as
    many entries as the batch has targets, one per sample, and dimension 1 (its batch) another size: the
    batch was passed as (batch, time, features), so its samples run as one sequence and each prediction
    depends on the samples before it in the batch. A model fed (time, batch, features) as it expects has as
    many targets as dimension 1 (or time x batch, flattened), never dimension 0 alone, unless its batch is a
    single sequence (one target per step of one series): a "batch" of 1 is left alone."""
    targets = model.data.y_shape if model.data is not None else None
    if not targets or len(targets) != 1:
        return []
    found = []
    for layer in sorted(model.layers, key=lambda x: x.index):
        shape = layer.output_shape
        if layer.extra.get("batch_first") is not False or not shape or len(shape) != 3:
            continue
        if shape[0] != targets[0] or shape[1] in (1, shape[0]):
            continue
        ref = cm.ref(model, layer.index)
        name = cm.name(model, layer.index)
        message = (f"{name} has batch_first=False, so it reads dimension 0 of its input as time: that "
                   f"dimension has {shape[0]} entries, as many as the batch's {targets[0]} targets, and its "
                   f"'batch' has {shape[1]}: the samples of each batch run as one sequence, and each "
                   "prediction depends on the samples before it")
        found.append(Finding(symptom=Symptom.BATCH_AS_SEQUENCE, phase=Phase.STATIC, layer=ref, step=1,
                             message=message, evidence={"output_shape": list(shape), "target_shape":
                                                        list(targets), "steps_needed": 1},
                             causes=[CauseHint(Category.ARCHITECTURE, cw.BATCH_AS_SEQUENCE,
                                               fixes.batch_first(model, trace, ref), ref)], detected_at=1))
    return found


def check_hidden_softmax(model: ModelInfo) -> list[Finding]:
    """A softmax on a hidden layer (one whose output a later weighted layer takes, not a model output):
    every sample is squeezed into a probability vector, its units saturate and pass almost no gradient.
    A warning (attention and gating use softmax on purpose, inside their own layers): a fault with a stall
    it explains."""
    out = output_layer(model)
    weighted = [x.index for x in model.layers if x.params > 0]
    for layer in sorted(model.layers, key=lambda x: x.index):
        if (layer.activation or "").lower() != "softmax" or layer is out or layer.extra.get("model_output"):
            continue
        if (layer.units or 0) < 2 or not any(i > layer.index for i in weighted):
            continue
        msg = (f"layer `{layer.name}` ({layer.type}) applies softmax to a hidden layer: each sample becomes "
               "a probability vector whose units saturate and pass almost no gradient")
        fix = (f"use relu in layer `{layer.name}` (softmax belongs on the output layer only)"
               if layer.params > 0 else
               f"remove the softmax layer `{layer.name}` (keep it on the output only)")
        return [Finding(symptom=Symptom.SATURATED_ACTIVATION, phase=Phase.STATIC, layer=layer.ref, step=1,
                        message=msg, evidence={"activation": "softmax", "hidden": True, "steps_needed": 1},
                        causes=[CauseHint(Category.ACTIVATION, cw.HIDDEN_SOFTMAX, fix, layer.ref)],
                        severity=Severity.WARNING, detected_at=1)]
    return []


def expected_initial_loss(model: ModelInfo) -> float | None:
    """-log(1/K) for a classification loss over K classes (log 2 per output for binary cross-entropy), in
    the units of the trained loss (``loss_scale``: a loss summed over the batch starts at batch x log K)."""
    if loss_family(model) not in ("ce", "nll", "bce"):
        return None
    k = n_classes(model)
    return math.log(k) * loss_scale(model) if k else None


def check_initial_loss(trace: Trace, model: ModelInfo, config: Config, output: list[Finding],
                       data: list[Finding]) -> list[Finding]:
    """A first loss far above -log(1/K): poor_initialization, unless an output mismatch explains it. Only
    where the trained loss is known to be the loss function's, or a known multiple of it (``loss_plain``):
    a loss summed over a sequence's time steps, or with terms added, is not in -log(1/K)'s units."""
    first = trace.first
    expected = expected_initial_loss(model)
    if (first is None or first.loss is None or not math.isfinite(first.loss) or expected is None
            or not model.extra.get("loss_plain")):
        return []
    loss = float(first.loss)
    limit = max(config.init_loss_ratio * expected, expected + config.init_loss_margin)
    if loss <= limit:
        return []
    evidence = {"initial_loss": loss, "expected_initial_loss": expected, "n_classes": n_classes(model)}
    if output:
        for finding in output:
            finding.evidence.update(evidence)
        return []
    out = output_weights(model)
    raw_input = any(f.symptom == Symptom.UNNORMALIZED_INPUT for f in data)  # explains large logits too
    causes = [CauseHint(Category.INITIALIZATION,
                        cw.INITIAL_LOSS_INIT_RAW_INPUT if raw_input else cw.INITIAL_LOSS_INIT,
                        f"the first loss is {loss:.3g}, expected ~{expected:.3g} = -log(1/K): "
                        + fixes.reinitialize(model, trace, None if out is None else out.ref)
                        + "; scale down the last layer's initial weights",
                        None if out is None else out.ref)]
    if raw_input:
        causes.append(CauseHint(Category.DATA, cw.INITIAL_LOSS_RAW_INPUT_DATA,
                                fixes.normalize_inputs(model, trace, None)))
    scale = loss_scale(model)
    units = f" x {scale:.4g} (the trained loss's scale)" if scale != 1.0 else ""
    msg = (f"the first loss {loss:.4g} is far above -log(1/K){units} = {expected:.3g} for "
           f"K={n_classes(model)}: the initial outputs are far too confident")
    return [Finding(symptom=Symptom.POOR_INITIALIZATION, phase=Phase.LOSS, layer=None, step=first.step,
                    epoch=first.epoch, message=msg,
                    evidence={**evidence, "detected_at_step": first.step, "steps_needed": first.step},
                    causes=causes)]
