"""numerical_error at the loss: a NaN/Inf loss from a finite model output — a log(0) or a division in the
loss, or, when the loss grew for steps before it overflowed, a divergence (the learning rate), or, when the
output is one the loss cannot take (a ReLU or linear output under a loss that expects probabilities: the
pre-flight ``activation_loss_mismatch``), that output activation: a row of zeros or a negative value is
where the log(0) or the division by zero came from."""

from __future__ import annotations

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors._curve import initial_level
from deeplocalize.detectors.preflight_output import check_output
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Symptom


def loss_origin(rec: StepRecord, trace: Trace, model: ModelInfo, config: Config) -> Finding | None:
    """The finding when the loss is the first non-finite value of the step (its model output is finite)."""
    if rec.loss is None or np.isfinite(rec.loss):
        return None
    loss_name = (model.loss.framework_name or model.loss.name) if model.loss is not None else "the loss"
    out_idx = cm.record_indices(rec, Channel.OUTPUT)
    out = rec.get(out_idx[-1], Channel.OUTPUT) if out_idx else None
    out_range = (float(out[sm.MIN]), float(out[sm.MAX])) if out is not None else None
    became = "NaN" if np.isnan(rec.loss) else ("+Inf" if rec.loss > 0 else "-Inf")
    # the output's range is only known on full-statistics steps (NaN, "not measured", on the others)
    span = (f" (in [{cm.fmt(out_range[0])}, {cm.fmt(out_range[1])}])"
            if out_range is not None and bool(np.isfinite(out_range).all()) else "")
    fix = (
        f"{loss_name} became {became} at step {rec.step} although the model output is finite{span}: "
        "a log(0) or a division by zero in the loss; clip the probabilities (e.g. to [1e-7, 1-1e-7]) or use "
        "a logits-based loss (CrossEntropyLoss / BCEWithLogitsLoss, from_logits=True)"
    )
    causes = [cm.cause(Category.LOSS, cw.NAN_LOSS_FUNCTION, fix, model, None)]
    growth = _loss_growth(trace)
    if growth >= config.diverging_loss_growth:
        # the loss grew for steps before it overflowed: the steps were too large, not the loss ill-formed
        causes = [cm.cause(Category.LEARNING_RATE, cw.NAN_LOSS_DIVERGED_LR,
                           f"the loss grew {cm.fmt(growth)}x over the steps before it became {became}: the "
                           f"training diverged; {cm.lr_advice(trace, model)}", model, None),
                  cm.cause(Category.LOSS, cw.NAN_LOSS_DIVERGED_LOSS, fix, model, None)]
    elif mismatch := _output_mismatch(model):
        # the loss took outputs it cannot take (no probabilities): the activation that made them comes first
        causes = [mismatch, cm.cause(Category.LOSS, cw.NAN_LOSS_OUTPUT_MISMATCH_LOSS, fix, model, None)]
    elif out is not None and cm.max_abs(out) >= config.exploding_output_abs:
        causes.append(
            cm.cause(
                Category.LEARNING_RATE,
                cw.NAN_LOSS_LARGE_OUTPUT_LR,
                f"the model output reached {cm.fmt(cm.max_abs(out))} before the loss overflowed: "
                f"{cm.lr_advice(trace, model)}",
                model,
                None,
            )
        )
    return cm.finding(
        Symptom.NUMERICAL_ERROR,
        Phase.LOSS,
        model,
        trace,
        None,
        rec.step,
        f"the loss became {became} at step {rec.step} from a finite model output",
        {"origin": "loss", "loss": rec.loss, "output_range": out_range, "loss_name": loss_name},
        causes,
        rec.step,
    )


def _output_mismatch(model: ModelInfo) -> CauseHint | None:
    """The output-activation cause of the pre-flight mismatch between the output and the loss, if any."""
    for found in check_output(model):
        if found.symptom == Symptom.ACTIVATION_LOSS_MISMATCH and found.causes:
            first = found.causes[0]
            if first.category == Category.ACTIVATION:
                return CauseHint(first.category, cw.NAN_LOSS_OUTPUT_MISMATCH, first.fix, first.layer)
    return None


def _loss_growth(trace: Trace, last: int = 10) -> float:
    """How many times the last finite loss before this step exceeds both the lowest finite loss of the
    ``last`` steps before it and the run's initial loss level: a divergence (1 when it did not grow)."""
    loss = trace.loss(last=last + 1)[:-1]
    loss = loss[np.isfinite(loss)]
    start = initial_level(trace)
    if loss.size < 3 or loss.min() <= 0 or start is None or start <= 0:
        return 1.0
    return float(min(loss[-1] / loss.min(), loss[-1] / start))
