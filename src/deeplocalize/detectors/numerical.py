"""numerical_error: NaN/Inf, found at the step it appears and attributed to its producer.

Producer semantics (DeepLocalize's key insight, done right): within the first step that holds a non-finite
value, the origin is searched along the order of computation — data, forward (the first layer whose input is
finite and whose output is not), loss (non-finite loss from finite outputs), backward (the first layer in
backward order whose produced gradients are non-finite while the gradient reaching it is finite), update
(weights or updates non-finite although every gradient was finite). Exactly one finding is reported, at the
origin; every later value that merely propagated it is not. Inf counts as NaN does.
"""

from __future__ import annotations

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import fixes
from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors import register
from deeplocalize.detectors._numerical_loss import loss_origin
from deeplocalize.detectors.precision import FLOAT16_MAX
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Symptom

#: Activations that overflow or divide on large inputs.
_OVERFLOWING = frozenset(
    {"softmax", "exp", "log_softmax", "softplus", "sigmoid", "log", "sqrt", "elu", "selu"}
)
_NONFINITE = "NaN/Inf"
#: Largest finite value of the float16 autocast dtype: beyond it a result is Inf. bfloat16 keeps float32's
#: range, so its overflow is not a precision problem.
_AUTOCAST_LIMIT = {"float16": FLOAT16_MAX}


@register("numerical_error", "step")
def numerical_error(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """One finding at the origin of the first non-finite value of a step that follows a finite step."""
    rec = trace.last_record
    if rec is None or not _has_nonfinite(rec) or _previous_nonfinite(trace):
        return []
    for locate in (_data, _forward, loss_origin, _backward, _update):
        found = locate(rec, trace, model, config)
        if found is not None:
            if rec.replay is not None:  # the probe replayed the step with per-layer counts
                found.evidence["replay"] = rec.replay
                if rec.replay == "not_reproduced":
                    found.message += " (a replay of the step did not reproduce it: a transient fault?)"
                elif rec.replay == "outside_model":
                    found.evidence["origin"] = "loss"
            return [found]
    return []


# ---------------------------------------------------------------------- which step
def _has_nonfinite(rec: StepRecord) -> bool:
    if rec.all_finite:  # the probe proved it (every number it fetched was finite)
        return False
    if rec.loss is not None and not np.isfinite(rec.loss):
        return True
    vecs = [*rec.stats.values(), rec.data, rec.target]
    return any(v is not None and not sm.is_finite(v) for v in vecs)


def _previous_nonfinite(trace: Trace) -> bool:
    """True when the step before already held a NaN/Inf: this step only propagates it."""
    if len(trace) < 2:
        return False
    keys = trace.keys()
    for key in keys:
        if trace.matrix(*key, last=2)[0, sm.NONFINITE] > 0:
            return True
    prev_loss = trace.loss(last=2)[0]
    if np.isinf(prev_loss):
        return True
    return any(m[0, sm.NONFINITE] > 0 for m in (trace.data(last=2), trace.target(last=2)))


# ---------------------------------------------------------------------- origins
def _data(rec: StepRecord, trace: Trace, model: ModelInfo, config: Config) -> Finding | None:
    bad = {
        name: int(v[sm.NONFINITE])
        for name, v in (("inputs", rec.data), ("targets", rec.target))
        if v is not None and not sm.is_finite(v)
    }
    if not bad:
        return None
    what = " and ".join(bad)
    fix = (
        f"the batch at step {rec.step} has NaN/Inf {what} ({bad}): clean the data set or the "
        "preprocessing (e.g. a division by a zero std, log of 0), and check with np.isfinite before training"
    )
    return cm.finding(
        Symptom.NUMERICAL_ERROR,
        Phase.DATA,
        model,
        trace,
        None,
        rec.step,
        f"the training batch contains {_NONFINITE} {what} at step {rec.step}",
        {"nonfinite_counts": bad, "origin": "data"},
        [cm.cause(Category.DATA, cw.NAN_INPUT_DATA, fix, model, None)],
        rec.step,
    )


def _forward(rec: StepRecord, trace: Trace, model: ModelInfo, config: Config) -> Finding | None:
    order = cm.record_indices(rec, Channel.OUTPUT)
    bad = [i for i in order if not cm.finite(rec.get(i, Channel.OUTPUT))]
    if not bad:
        return None
    if not _reached_training(rec, order, bad):
        return None  # absorbed downstream (e.g. -inf in an attention mask): harmless by construction
    producer, between = None, False
    prev: int | None = None
    for i in order:
        out_ok = cm.finite(rec.get(i, Channel.OUTPUT))
        inp = rec.get(i, Channel.INPUT)
        if inp is not None and not np.isnan(inp[sm.NONFINITE]):
            in_ok = sm.is_finite(inp)
        else:
            in_ok = cm.finite(rec.get(prev, Channel.OUTPUT)) if prev is not None else cm.finite(rec.data)
        if not in_ok and (prev is None or cm.finite(rec.get(prev, Channel.OUTPUT))):
            producer, between = i, True  # made by an operation that is not a recorded layer
            break
        if not out_ok and in_ok:
            producer = i
            break
        prev = i
    if producer is None:
        return None
    return _forward_finding(rec, trace, model, config, producer, prev, between, bad)


def _reached_training(rec: StepRecord, order: list[int], bad: list[int]) -> bool:
    if rec.loss is not None and not np.isfinite(rec.loss):
        return True
    if order and order[-1] in bad:
        return True
    grads = (Channel.OUTPUT_GRAD, Channel.WEIGHT_GRAD, Channel.UPDATE, Channel.WEIGHTS)
    return any(ch in grads and not sm.is_finite(v) for (_, ch), v in rec.stats.items())


def _forward_finding(
    rec: StepRecord,
    trace: Trace,
    model: ModelInfo,
    config: Config,
    producer: int,
    prev: int | None,
    between: bool,
    bad: list[int],
) -> Finding:
    lname, act, kind = cm.name(model, producer), cm.activation(model, producer), cm.kind(model, producer)
    in_vec = rec.get(prev, Channel.OUTPUT) if prev is not None else rec.data
    in_mag = cm.max_abs(in_vec) if in_vec is not None else float("nan")
    w_mag = _previous_weight_mag(trace, producer)
    causes: list[CauseHint] = []
    if between:
        where = f"between {cm.name(model, prev)} and {lname}" if prev is not None else f"before {lname}"
        message = (
            f"{_NONFINITE} appeared {where} at step {rec.step}: produced by an operation that is not a "
            "layer (e.g. a functional call in forward())"
        )
        causes.append(
            cm.cause(
                Category.ARCHITECTURE,
                cw.NAN_FORWARD_NON_LAYER_OP,
                f"an operation {where} (not a layer) computes {_NONFINITE} from finite values: look "
                "for a division by zero, log/sqrt of a non-positive value or exp overflow",
                model,
                producer,
            )
        )
    else:
        message = f"layer {lname} produced {_NONFINITE} from finite inputs at step {rec.step} (forward)"
        limit = _AUTOCAST_LIMIT.get(str(model.extra.get("autocast")))
        if limit is not None:
            causes.append(
                cm.cause(
                    Category.ARCHITECTURE,
                    cw.NAN_FORWARD_AUTOCAST,
                    f"layer {lname} runs in {model.extra['autocast']} under autocast, where values beyond "
                    f"±{limit:g} overflow to Inf: keep this layer in float32 (a torch.autocast(..., "
                    "enabled=False) region around it), use bfloat16, or keep its values small "
                    "(normalization, a smaller init or learning rate)",
                    model,
                    producer,
                )
            )
        if act in _OVERFLOWING:
            causes.append(
                cm.cause(
                    Category.ACTIVATION,
                    cw.NAN_FORWARD_OVERFLOWING_ACT,
                    f"layer {lname} ({act}) overflows on its inputs (max |input| = "
                    f"{cm.fmt(in_mag)}): use a numerically stable form (log_softmax with NLLLoss, "
                    "or logits with a from_logits / WithLogits loss) or keep its inputs small",
                    model,
                    producer,
                )
            )
        else:
            causes.append(
                cm.cause(
                    Category.ARCHITECTURE,
                    cw.NAN_FORWARD_LAYER_OP,
                    f"layer {lname} ({kind or 'unknown type'}) computes {_NONFINITE} from finite "
                    "inputs: look for a division by zero, log/sqrt of a non-positive value or exp "
                    "overflow in its computation (add an epsilon or clamp)",
                    model,
                    producer,
                )
            )
    exploded = max(w_mag if np.isfinite(w_mag) else 0.0, 0.0) >= config.exploding_weight_abs or (
        np.isfinite(in_mag) and in_mag >= config.exploding_output_abs
    )
    if exploded:
        causes.append(
            cm.cause(
                Category.LEARNING_RATE,
                cw.NAN_FORWARD_EXPLODED_LR,
                f"values had exploded before the overflow (max |w| = {cm.fmt(w_mag)}, max |input| = "
                f"{cm.fmt(in_mag)}) at layer {lname}: {cm.lr_advice(trace, model)}",
                model,
                producer,
            )
        )
    evidence = {
        "origin": "forward",
        "producer_input_max_abs": in_mag,
        "producer_weights_max_abs": w_mag,
        "between_layers": between,
        "propagated_to": cm.names(model, [i for i in bad if i != producer]),
        "nonfinite_count": float(rec.get(producer, Channel.OUTPUT)[sm.NONFINITE]),
        "loss": rec.loss,
    }
    return cm.finding(
        Symptom.NUMERICAL_ERROR,
        Phase.FORWARD,
        model,
        trace,
        producer,
        rec.step,
        message,
        evidence,
        causes,
        rec.step,
    )


def _previous_weight_mag(trace: Trace, index: int) -> float:
    """max |w| the forward pass used (the weights recorded after the previous step)."""
    if len(trace) < 2 or not trace.has(index, Channel.WEIGHTS):
        return float("nan")
    return cm.max_abs(trace.matrix(index, Channel.WEIGHTS, last=2)[0])


def _backward(rec: StepRecord, trace: Trace, model: ModelInfo, config: Config) -> Finding | None:
    grads = sorted({i for (i, ch) in rec.stats if ch in (Channel.OUTPUT_GRAD, Channel.WEIGHT_GRAD)})
    if all(
        cm.finite(rec.get(i, Channel.OUTPUT_GRAD)) and cm.finite(rec.get(i, Channel.WEIGHT_GRAD))
        for i in grads
    ):
        return None
    with_og = [i for i in grads if rec.get(i, Channel.OUTPUT_GRAD) is not None]
    rev = grads[::-1]
    for k, i in enumerate(rev):
        og = rec.get(i, Channel.OUTPUT_GRAD)
        if og is not None and not sm.is_finite(og):
            if with_og and i == with_og[-1]:
                return _backward_finding(rec, trace, model, None, "loss")  # the loss' own gradient
            return _backward_finding(rec, trace, model, i, "between")  # produced by a non-layer operation
        below = next(
            (
                rec.get(j, Channel.OUTPUT_GRAD)
                for j in rev[k + 1 :]
                if rec.get(j, Channel.OUTPUT_GRAD) is not None
            ),
            None,
        )
        if not cm.finite(rec.get(i, Channel.WEIGHT_GRAD)) or not cm.finite(below):
            return _backward_finding(rec, trace, model, i, "layer")
    return None


def _backward_finding(
    rec: StepRecord, trace: Trace, model: ModelInfo, index: int | None, how: str
) -> Finding:
    lname = cm.name(model, index)
    if how == "loss":
        message = f"the gradient of the loss w.r.t. the model output became {_NONFINITE} at step {rec.step}"
        cause = cm.cause(
            Category.LOSS,
            cw.NAN_BACKWARD_LOSS,
            f"the loss is finite ({rec.loss}) but its gradient is not: a sqrt/log/division at 0 in "
            "the loss' derivative; add an epsilon or use a built-in loss",
            model,
            None,
        )
    elif how == "between":
        message = (
            f"a {_NONFINITE} gradient reached layer {lname} from an operation that is not a layer "
            f"(backward, step {rec.step})"
        )
        cause = cm.cause(
            Category.ARCHITECTURE,
            cw.NAN_BACKWARD_NON_LAYER_OP,
            f"an operation after layer {lname} has a non-finite derivative (sqrt/abs/pow at 0, "
            "division): add an epsilon",
            model,
            index,
        )
    else:
        message = (
            f"layer {lname} produced {_NONFINITE} gradients from finite incoming gradients at step "
            f"{rec.step} (backward)"
        )
        cause = cm.cause(
            Category.ARCHITECTURE,
            cw.NAN_BACKWARD_LAYER,
            f"the derivative of layer {lname} ({cm.kind(model, index) or 'unknown type'}) is not "
            "finite at its current input (e.g. sqrt or pow at 0, a custom backward): add an "
            "epsilon or clamp the input",
            model,
            index,
        )
    return cm.finding(
        Symptom.NUMERICAL_ERROR,
        Phase.BACKWARD,
        model,
        trace,
        index,
        rec.step,
        message,
        {"origin": "backward", "how": how, "loss": rec.loss},
        [cause],
        rec.step,
    )


def _update(rec: StepRecord, trace: Trace, model: ModelInfo, config: Config) -> Finding | None:
    bad_up = [i for i in cm.record_indices(rec, Channel.UPDATE) if not cm.finite(rec.get(i, Channel.UPDATE))]
    bad_w = [i for i in cm.record_indices(rec, Channel.WEIGHTS) if not cm.finite(rec.get(i, Channel.WEIGHTS))]
    if not bad_up and not bad_w:
        return None
    phase, bad = (Phase.UPDATE, bad_up) if bad_up else (Phase.WEIGHTS, bad_w)
    first = bad[0]
    g = rec.get(first, Channel.WEIGHT_GRAD)
    g_mag = cm.max_abs(g) if g is not None else float("nan")
    opt = model.optimizer.name if model.optimizer is not None else "the optimizer"
    setting = fixes.optimizer_setting_problem(model)
    causes = [] if setting is None else [
        cm.cause(Category.OPTIMIZER, config.optimizer_setting_vote, setting, model, None)]
    layer = model.layer(first)
    half = layer is not None and layer.extra.get("param_dtype") == "float16"  # updated in float16
    if half:
        causes.append(cm.cause(Category.OPTIMIZER, cw.NAN_UPDATE_HALF_WEIGHTS,
                               fixes.fp32_master_weights_for_half(model, trace, layer.ref), model, first))
    causes += [
        cm.cause(
            Category.LEARNING_RATE,
            cw.NAN_UPDATE_LR if setting is None and not half else cw.NAN_UPDATE_LR_BAD_SETTING,
            f"the optimizer step turned the weights of {', '.join(cm.names(model, bad))} into NaN/Inf "
            "although "
            f"the gradients were finite (max |g| = {cm.fmt(g_mag)}): {cm.lr_advice(trace, model)}",
            model,
            first,
        ),
        cm.cause(
            Category.OPTIMIZER,
            cw.NAN_UPDATE_OPTIMIZER,
            f"check the settings of {opt} (e.g. eps=0 divides by zero) or clip the gradients "
            "(clip_grad_norm_ / clipnorm=1.0)",
            model,
            None,
        ),
    ]
    return cm.finding(
        Symptom.NUMERICAL_ERROR,
        phase,
        model,
        trace,
        first,
        rec.step,
        f"the {phase} of layer {cm.name(model, first)} became {_NONFINITE} at step {rec.step} "
        "after finite gradients",
        {
            "origin": str(phase),
            "layers": cm.names(model, bad),
            "grad_max_abs": g_mag,
            "lr": fixes.current_lr(model, trace),
        },
        causes,
        rec.step,
    )
