"""Pre-flight checks of the output activation against the loss and the labels (no registration here).

``check_output(model)`` returns activation_loss_mismatch and output_out_of_range findings, built from
the model facts and the first batch's label facts. The layer is the output layer when its activation is at
fault, None when the loss or the data is (docs/architecture.md, "Layer identity"). ``preflight``
registers the detector.
"""

from __future__ import annotations

import math

from deeplocalize import causes as cw
from deeplocalize.detectors._facts import (
    ACTIVATION_RANGE,
    loss_expects,
    loss_family,
    output_activation,
    output_layer,
    output_units,
)
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.fixes import layer_label
from deeplocalize.model import LayerInfo, ModelInfo
from deeplocalize.vocabulary import Category, Phase, Severity, Symptom

_KERAS = "keras"
_ACT, _LOSS, _DATA, _ARCH = Category.ACTIVATION, Category.LOSS, Category.DATA, Category.ARCHITECTURE
_MISMATCH, _RANGE = Symptom.ACTIVATION_LOSS_MISMATCH, Symptom.OUTPUT_OUT_OF_RANGE
Hint = tuple[Category, float, str, LayerInfo | None]  # (category, weight, fix, layer at fault)


def _finding(symptom: Symptom, layer: LayerInfo | None, message: str, causes: list[Hint],
             evidence: dict, severity: Severity | None = None) -> Finding:
    hints = [CauseHint(cat, w, fix, None if at is None else at.ref) for cat, w, fix, at in causes]
    return Finding(symptom=symptom, phase=Phase.STATIC, layer=None if layer is None else layer.ref, step=1,
                   message=message, evidence={**evidence, "steps_needed": 1}, causes=hints,
                   severity=severity, detected_at=1)


def _names(model: ModelInfo) -> tuple[str, str]:
    """Framework spelling of (sigmoid + binary loss, softmax + categorical loss) for fix texts."""
    if model.framework == _KERAS:
        return ("activation='sigmoid' with loss='binary_crossentropy'",
                "activation='softmax' with loss='categorical_crossentropy'")
    return ("no activation and nn.BCEWithLogitsLoss (or nn.Sigmoid with nn.BCELoss)",
            "no activation and nn.CrossEntropyLoss")


def check_output(model: ModelInfo) -> list[Finding]:
    """Output activation vs loss vs labels; empty when the facts are missing or consistent."""
    out = output_layer(model)
    act = output_activation(model)
    if out is None or act is None:
        return []
    found = _softmax_axis(model, out, act)
    if found:
        return found
    family = loss_family(model)
    if family is None:
        return []
    checks = {"ce": _categorical, "nll": _nll, "bce": _binary, "value": _values}
    found = checks[family](model, out, act)
    return found + _label_range(model, out, act, family, found)


def _softmax_axis(model: ModelInfo, out: LayerInfo, act: str) -> list[Finding]:
    """Softmax over one unit (always 1.0) or over the batch axis."""
    if act != "softmax":
        return []
    size = out.softmax_axis_size if out.softmax_axis_size is not None else out.units
    label = layer_label(out)
    binary, categorical = _names(model)
    if size == 1:
        msg = f"{label} applies softmax to 1 unit, which always outputs 1.0: the model cannot learn"
        return [_finding(_MISMATCH, out, msg, [
            (_ACT, cw.OUTPUT_SOFTMAX_ONE_UNIT,
             f"layer `{out.name}` applies softmax to 1 unit, which always outputs 1.0: "
             f"use {binary}", out),
            (_LOSS, cw.OUTPUT_SOFTMAX_ONE_UNIT_LOSS,
             f"or give layer `{out.name}` 2 units with {categorical}", None),
        ], {"activation": act, "softmax_axis_size": 1})]
    shape = out.output_shape
    if (shape is not None and len(shape) == 2 and shape[0] and out.softmax_axis_size == shape[0]
            and out.units and out.units != shape[0]):
        msg = (f"{label} normalizes softmax over the batch axis (size {shape[0]}), not over its "
               f"{out.units} classes")
        return [_finding(_MISMATCH, out, msg, [
            (_ACT, cw.OUTPUT_SOFTMAX_BATCH_AXIS,
             f"layer `{out.name}`: apply softmax over the class axis (dim=-1), "
             "not dim=0", out),
        ], {"activation": act, "softmax_axis_size": out.softmax_axis_size, "output_shape": list(shape)})]
    return []


def _categorical(model: ModelInfo, out: LayerInfo, act: str) -> list[Finding]:
    """Cross-entropy over K classes: logits in (CrossEntropyLoss, from_logits) or softmax probabilities."""
    expects = loss_expects(model)
    label = layer_label(out)
    loss = model.loss.framework_name or model.loss.name if model.loss else "the loss"
    special = _categorical_special(model, out, act, loss)
    if special:
        return special
    if expects == "logits" and act in ("softmax", "sigmoid", "relu", "tanh"):
        what = ("applies softmax, and the loss applies its own log-softmax (double softmax): gradients shrink"
                if act == "softmax" else f"squashes the logits with {act} before a loss expecting raw logits")
        fix_loss = ("or keep the softmax and use torch.log + nn.NLLLoss" if model.framework != _KERAS
                    else "or keep the softmax and set from_logits=False")
        return [_finding(_MISMATCH, out, f"{label} {what} ({loss})", [
            (_ACT, cw.OUTPUT_SQUASHED_LOGITS,
             f"remove the {act} of layer `{out.name}`: {loss} expects raw logits", out),
            (_LOSS, (cw.OUTPUT_SQUASHED_LOGITS_LOSS_SOFTMAX if act == "softmax"
                     else cw.OUTPUT_SQUASHED_LOGITS_LOSS), fix_loss, None),
        ], {"activation": act, "loss": loss, "loss_expects": expects})]
    if expects == "probabilities" and act != "softmax":
        if act == "sigmoid":
            why = "sigmoid outputs do not sum to 1 over the classes"
        else:
            why = f"{act} outputs are not probabilities"
        return [_finding(_MISMATCH, out, f"{label}: {loss} expects probabilities, but {why}", [
            (_ACT, cw.OUTPUT_NOT_PROBABILITIES, f"use softmax on layer `{out.name}` (now {act})", out),
            (_LOSS, (cw.OUTPUT_NOT_PROBABILITIES_LOSS_LINEAR if act in ("linear", "relu")
                     else cw.OUTPUT_NOT_PROBABILITIES_LOSS),
             f"or keep layer `{out.name}` linear and compute {loss} with from_logits=True", None),
        ], {"activation": act, "loss": loss, "loss_expects": expects})]
    return []


def _categorical_special(model: ModelInfo, out: LayerInfo, act: str, loss: str) -> list[Finding]:
    """Categorical cross-entropy over one output unit (always 0), or over multi-label targets."""
    binary, _ = _names(model)
    data = model.data
    if output_units(model) == 1:
        msg = f"{loss} over the single unit of {layer_label(out)} is always 0: nothing is learned"
        classes = int(data.y_max) + 1 if data is not None and data.y_is_integer and data.y_max else 0
        if classes > 2:  # the labels say how many classes there are: the output is too narrow
            return [_finding(_MISMATCH, out, msg + f"; the labels span 0..{classes - 1}", [
                (_ARCH, cw.OUTPUT_TOO_FEW_UNITS,
                 f"the labels span 0..{classes - 1}: give layer `{out.name}` {classes} units "
                 f"(now 1) with softmax", out),
                (_ACT, cw.OUTPUT_TOO_FEW_UNITS_ACT, f"with softmax on layer `{out.name}` (now {act})", out),
            ], {"activation": act, "loss": loss, "units": 1, "classes": classes})]
        return [_finding(_MISMATCH, None, msg, [
            (_LOSS, cw.OUTPUT_ONE_UNIT_CATEGORICAL_LOSS,
             f"{loss} needs one unit per class; for a binary task use {binary}", None),
            (_ARCH, cw.OUTPUT_ONE_UNIT_CATEGORICAL_ARCH,
             f"or give layer `{out.name}` one unit per class (now 1)", out),
        ], {"activation": act, "loss": loss, "units": 1})]
    if data is not None and data.y_is_multi_hot:  # rows with several 1s, read from the labels themselves
        msg = f"{loss} treats the classes as exclusive, but the targets are multi-label ({layer_label(out)})"
        # both must change (sigmoid on the output layer and a binary loss): the output layer is at fault
        return [_finding(_MISMATCH, out, msg, [
            (_LOSS, cw.OUTPUT_MULTI_LABEL_LOSS, f"use a binary cross-entropy per label (now {loss})", None),
            (_ACT, cw.OUTPUT_MULTI_LABEL_ACT, f"with sigmoid on layer `{out.name}` (now {act})", out),
        ], {"activation": act, "loss": loss, "multi_label": True})]
    return []


def _nll(model: ModelInfo, out: LayerInfo, act: str) -> list[Finding]:
    """NLL expects log-probabilities (LogSoftmax)."""
    if act == "log_softmax":
        return []
    label = layer_label(out)
    why = ("softmax gives probabilities, not log-probabilities: the loss is -p, which barely trains"
           if act == "softmax" else f"{act} outputs are not log-probabilities")
    return [_finding(_MISMATCH, out, f"{label}: NLLLoss expects log-probabilities; {why}", [
        (_ACT, cw.OUTPUT_NLL_ACT, f"use nn.LogSoftmax(dim=-1) on layer `{out.name}` (now {act})", out),
        (_LOSS, cw.OUTPUT_NLL_LOSS, "or drop the final activation and use nn.CrossEntropyLoss", None),
    ], {"activation": act, "loss": "nll"})]


def _binary(model: ModelInfo, out: LayerInfo, act: str) -> list[Finding]:
    """Binary cross-entropy: sigmoid probabilities (BCELoss, from_logits=False) or raw logits (WithLogits)."""
    expects = loss_expects(model)
    label = layer_label(out)
    loss = model.loss.framework_name or model.loss.name if model.loss else "the loss"
    data = model.data
    multi_label = bool(data is not None and data.y_is_multi_hot)  # read from the labels themselves
    one_hot = bool(data is not None and data.y_is_one_hot)
    units = output_units(model) or 0
    if act == "softmax" and units > 1:
        if multi_label:
            msg = f"{label} applies softmax to multi-label targets: the labels compete and cannot all be 1"
            return [_finding(_MISMATCH, out, msg, [
                (_ACT, cw.OUTPUT_SOFTMAX_MULTI_LABEL,
                 f"use sigmoid on layer `{out.name}` (independent labels) with {loss}",
                 out),
                (_LOSS, cw.OUTPUT_SOFTMAX_MULTI_LABEL_LOSS,
                 "keep the binary cross-entropy (one per label)", None),
            ], {"activation": act, "loss": loss, "multi_label": True})]
        if one_hot:  # trains (each class's probability gets its own BCE), only less well: a risk
            msg = f"{label} applies softmax over {units} one-hot classes but the loss is binary ({loss})"
            return [_finding(_MISMATCH, None, msg, [
                (_LOSS, cw.OUTPUT_SOFTMAX_BINARY_LOSS,
                 f"use categorical cross-entropy with the softmax of layer `{out.name}`", None),
                (_ACT, cw.OUTPUT_SOFTMAX_BINARY_ACT,
                 f"or use sigmoid on layer `{out.name}` if labels are independent", out),
            ], {"activation": act, "loss": loss, "one_hot": True}, Severity.WARNING)]
        return []
    if expects == "logits" and act == "sigmoid":
        return [_finding(_MISMATCH, out,
                         f"{label} applies sigmoid, and {loss} applies its own (double sigmoid)", [
            (_ACT, cw.OUTPUT_DOUBLE_SIGMOID,
             f"remove the sigmoid of layer `{out.name}`: {loss} expects raw logits", out),
            (_LOSS, cw.OUTPUT_DOUBLE_SIGMOID_LOSS,
             "or keep the sigmoid and use nn.BCELoss (from_logits=False)", None),
        ], {"activation": act, "loss": loss, "loss_expects": expects})]
    if expects == "probabilities" and act not in ("sigmoid", "hard_sigmoid", "softmax"):
        return [_finding(_MISMATCH, out,
                         f"{label}: {loss} expects probabilities in [0, 1], but {act} outputs are not", [
            (_ACT, cw.OUTPUT_BINARY_NOT_PROBABILITIES, f"use sigmoid on layer `{out.name}` (now {act})", out),
            (_LOSS, cw.OUTPUT_BINARY_NOT_PROBABILITIES_LOSS,
             "or keep it linear and use nn.BCEWithLogitsLoss / from_logits=True", None),
        ], {"activation": act, "loss": loss, "loss_expects": expects})]
    return []


def _values(model: ModelInfo, out: LayerInfo, act: str) -> list[Finding]:
    """Regression losses (MSE, MAE, Huber) used on one-hot classes."""
    data = model.data
    if not ((data is not None and data.y_is_one_hot) or model.task == "multiclass"):
        return []
    loss = model.loss.framework_name or model.loss.name if model.loss else "the loss"
    _, categorical = _names(model)
    msg = f"{loss} is a regression loss, used on one-hot class labels ({layer_label(out)})"
    return [_finding(_MISMATCH, None, msg, [
        (_LOSS, cw.OUTPUT_REGRESSION_LOSS_ON_CLASSES,
         f"use a classification loss: {categorical} (now {loss})", None),
        (_ACT, cw.OUTPUT_REGRESSION_LOSS_ON_CLASSES_ACT,
         f"layer `{out.name}` (now {act}) should output class scores for that loss", out),
    ], {"activation": act, "loss": loss})]


def _label_range(model: ModelInfo, out: LayerInfo, act: str, family: str,
                 found: list[Finding]) -> list[Finding]:
    """Labels the output (or the loss) cannot produce."""
    data = model.data
    if found or data is None or data.y_min is None or data.y_max is None:
        return []
    y_min, y_max = data.y_min, data.y_max
    span = f"[{y_min:.4g}, {y_max:.4g}]"
    if family == "bce" and y_min >= 0 and y_max >= 2 and data.y_is_integer and output_units(model) == 1:
        classes = int(y_max) + 1  # class indices 0..K-1 fed to a one-unit binary head
        loss = ("loss='sparse_categorical_crossentropy'" if model.framework == _KERAS
                else "nn.CrossEntropyLoss")
        return [_finding(_RANGE, out,
                         f"binary cross-entropy needs labels in [0, 1], but the labels are the classes "
                         f"0..{classes - 1} of a multiclass task", [
            (_LOSS, cw.OUTPUT_BCE_MULTICLASS_LOSS,
             f"the labels are {classes} classes: use a multiclass loss ({loss}) ...", None),
            (_ARCH, cw.OUTPUT_BCE_MULTICLASS_UNITS,
             f"... and give layer `{out.name}` {classes} units (now 1), one score per class",
             out),
        ], {"y_min": y_min, "y_max": y_max, "n_classes": classes,
            "loss": model.loss.name if model.loss else None})]
    if family == "bce" and (y_min < 0 or y_max > 1):
        return [_finding(_RANGE, None,
                         f"binary cross-entropy needs labels in [0, 1], but the labels span {span}", [
            (_DATA, cw.OUTPUT_BCE_LABEL_RANGE, f"map the labels {span} to 0/1 (e.g. -1 -> 0)", None),
            (_LOSS, cw.OUTPUT_BCE_LABEL_RANGE_LOSS,
             "or use a loss for these labels (hinge for ±1, cross-entropy for classes)", None),
        ], {"y_min": y_min, "y_max": y_max, "loss": model.loss.name if model.loss else None})]
    if family in ("ce", "nll") and data.y_is_integer and not data.y_is_one_hot:
        units = output_units(model)
        if units and units >= 2 and (y_min < 0 or y_max >= units):
            return [_finding(_RANGE, out,
                             f"{layer_label(out)} scores {units} classes, but the labels span {span}", [
                (_DATA, cw.OUTPUT_CLASS_LABEL_RANGE,
                 f"class labels must be 0..{units - 1}: shift or re-encode them (now {span})",
                 None),
                (_ARCH, cw.OUTPUT_CLASS_LABEL_RANGE_UNITS,
                 f"or give layer `{out.name}` {int(y_max) + 1} units (now {units})", out),
            ], {"y_min": y_min, "y_max": y_max, "units": units})]
    if family == "value":
        low, high = ACTIVATION_RANGE.get(act, (-math.inf, math.inf))
        if y_min < low or y_max > high:
            rng = f"[{low:g}, {high:g}]".replace("inf", "∞")
            return [_finding(_RANGE, out,
                             f"{layer_label(out)} outputs values in {rng}, but the targets span {span}", [
                (_ACT, cw.OUTPUT_BOUNDED_TARGETS,
                 f"use a linear output on layer `{out.name}` (now {act}) for targets "
                 f"in {span}", out),
                (_DATA, cw.OUTPUT_BOUNDED_TARGETS_DATA,
                 f"or scale the targets into {rng} (now {span})", None),
            ], {"activation": act, "output_range": [low, high], "y_min": y_min, "y_max": y_max})]
    return []
