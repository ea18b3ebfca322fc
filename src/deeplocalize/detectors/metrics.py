"""Metric detectors: accuracy_not_increasing (per-step accuracy) and overfitting (when validation is seen)."""

from __future__ import annotations

import math

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import fixes
from deeplocalize.config import Config
from deeplocalize.detectors import register
from deeplocalize.detectors._curve import (
    block_size,
    initial_level,
    lr_warming_up,
    near,
    provisional,
    trend,
    window_curve,
)
from deeplocalize.detectors._facts import chance_accuracy, chance_loss, loss_floor
from deeplocalize.detectors.curves import has_learned
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Phase, Symptom

#: Names a per-step accuracy goes by (torch probe: "accuracy"; Keras: the compiled metric's name).
ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy")


def accuracy_name(trace: Trace) -> str | None:
    """The first accuracy-like metric the trace holds."""
    names = set(trace.metric_names)
    return next((n for n in ACCURACY_NAMES if n in names), None)


def _loss_says_learning(trace: Trace, model: ModelInfo, config: Config) -> bool:
    """The loss contradicts a stuck accuracy: it fell well below its start and is not at chance."""
    curve = window_curve(trace, config, block=block_size(model, config))
    initial = initial_level(trace)
    if len(curve) < 3 or initial is None:
        return False
    level = trend(curve.values).last
    chance, floor = chance_loss(trace, model), loss_floor(model)
    at_chance = chance is not None and near(level, chance, config.chance_rel_tol, floor)
    return has_learned(level, initial, config, floor) and not at_chance


@register("accuracy_not_increasing", "check", reads_curve=True)
def accuracy_not_increasing(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """The per-step accuracy stays flat near chance (1/K or the majority class) over the window."""
    name = accuracy_name(trace)
    if model.task == "multilabel" or name is None:
        return []
    curve = window_curve(trace, config, name, block_size(model, config))
    if len(curve) < config.acc_min_steps or lr_warming_up(trace, config):
        return []
    t = trend(curve.values)
    z = config.loss_noise_z
    if t.change + z * t.se >= config.acc_min_gain or t.change > z * t.se:
        return []
    chance = chance_accuracy(trace, model)
    if chance is not None:
        if t.last > chance + config.acc_chance_margin:
            return []
    else:
        initial = initial_level(trace, name)
        if initial is not None and t.last - initial >= config.acc_min_gain:
            return []
    if _loss_says_learning(trace, model, config):
        return []
    where = f" (chance {chance:.3g})" if chance is not None else ""
    msg = (f"the accuracy does not increase over steps {int(curve.steps[0])}–{int(curve.steps[-1])}: "
           f"median {t.first:.3g} -> {t.last:.3g}{where}")
    causes = [
        CauseHint(Category.LEARNING_RATE, cw.ACCURACY_FLAT_LR,
                  fixes.lr_fix(model, trace, None, "the accuracy does not move")),
        CauseHint(Category.OPTIMIZER, cw.ACCURACY_FLAT_OPTIMIZER, fixes.better_optimizer(model, trace, None)),
        CauseHint(Category.DATA, cw.ACCURACY_FLAT_DATA, fixes.check_labels(model, trace, None)),
    ]
    evidence = {"first_median": t.first, "last_median": t.last, "noise_se": t.se, "chance_accuracy": chance,
                "window_first_step": int(curve.steps[0]), "window_last_step": int(curve.steps[-1]),
                "steps_needed": int(trace.last_step), "detected_at_step": int(trace.last_step)}
    return [provisional(Finding(symptom=Symptom.ACCURACY_NOT_INCREASING, phase=Phase.METRIC, layer=None,
                                step=int(curve.steps[0]), epoch=int(curve.epochs[0]), message=msg,
                                evidence=evidence, causes=causes), trace, config)]


def _points(trace: Trace, name: str | None) -> dict[int, tuple[int, float]]:
    """step -> (epoch, value) of the loss (``name`` None) or a metric, from the history and the window."""
    points: dict[int, tuple[int, float]] = {}
    for record in trace.history():
        value = record.loss if name is None else record.metrics.get(name)
        if value is not None and math.isfinite(value):
            points[record.step] = (record.epoch, float(value))
    values = trace.loss() if name is None else trace.metric(name)
    for step, epoch, value in zip(trace.steps(), trace.epochs(), values, strict=True):
        if math.isfinite(value):
            points[int(step)] = (int(epoch), float(value))
    return points


@register("overfitting", "check", reads_curve=True)
def overfitting(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """val_loss rises for ``overfit_patience`` evaluations while the training loss falls, with a large gap."""
    vals = _points(trace, "val_loss")
    if len(vals) < config.overfit_min_evals:
        return []
    train = _points(trace, None)
    eval_steps = sorted(vals)
    val = np.array([vals[s][1] for s in eval_steps])
    train_at: list[float] = []
    prev = 0
    for step in eval_steps:  # median training loss since the previous evaluation
        seg = [v for s, (_, v) in train.items() if prev < s <= step]
        train_at.append(float(np.median(seg)) if seg else math.nan)
        prev = step
    tr = np.array(train_at)
    best, last = int(np.argmin(val)), len(val) - 1
    patience = config.overfit_patience
    if best >= last or last - best < patience or not np.isfinite(tr[[best, last]]).all():
        return []
    if not all(val[last - j] > val[last - j - 1] for j in range(patience)):
        return []
    if val[last] < val[best] + config.overfit_val_rise * abs(val[best]) or tr[last] >= tr[best]:
        return []
    gap = (val[last] - tr[last]) / max(abs(tr[last]), 1e-12)
    if gap <= config.overfit_gap_ratio:
        return []
    first = eval_steps[best + 1]
    msg = (f"overfitting: val_loss rose from {val[best]:.4g} (step {eval_steps[best]}) to {val[last]:.4g} "
           f"while the training loss fell to {tr[last]:.4g} (gap {gap:.0%})")
    causes = [
        CauseHint(Category.TRAINING, cw.OVERFITTING_REGULARIZE, fixes.regularize(model, trace, None)
                  + f" (best val_loss at step {eval_steps[best]}, epoch {vals[eval_steps[best]][0]})"),
        CauseHint(Category.ARCHITECTURE, cw.OVERFITTING_MODEL_SIZE, fixes.smaller_model(model, trace, None)),
    ]
    evidence = {"val_loss": val.tolist(), "train_loss": tr.tolist(), "eval_steps": eval_steps,
                "best_step": eval_steps[best], "gap_ratio": float(gap),
                "detected_at_step": int(trace.last_step), "steps_needed": int(trace.last_step)}
    return [Finding(symptom=Symptom.OVERFITTING, phase=Phase.METRIC, layer=None, step=int(first),
                    epoch=vals[first][0], message=msg, evidence=evidence, causes=causes)]


@register("validation_mismatch", "check", reads_curve=True)
def validation_mismatch(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """A bug only validation shows: over ``overfit_min_evals`` evaluations or more, the training loss fell by
    ``mismatch_train_fall`` or more while the validation loss never went below its first value and stays at
    or above the chance level. Not overfitting (the validation loss never improved at all): the validation
    inputs or labels are not prepared like the training ones (another normalization, shuffled labels,
    another encoding). Reported as loss_not_decreasing in the metric phase, with the data to blame."""
    vals = _points(trace, "val_loss")
    chance = chance_loss(trace, model)
    if len(vals) < config.overfit_min_evals or chance is None:
        return []
    train = _points(trace, None)
    eval_steps = sorted(vals)
    val = np.array([vals[s][1] for s in eval_steps])
    before_first = [v for s, (_, v) in train.items() if s <= eval_steps[0]]
    after_last = [v for s, (_, v) in train.items() if eval_steps[-2] < s <= eval_steps[-1]]
    if not before_first or not after_last:
        return []
    first_train, last_train = float(np.median(before_first)), float(np.median(after_last))
    if last_train > (1 - config.mismatch_train_fall) * first_train:
        return []
    if val.min() < val[0] or val[-1] < (1 - config.chance_rel_tol) * chance:
        return []
    msg = (f"the validation loss never improved ({val[0]:.4g} -> {val[-1]:.4g}, chance level {chance:.4g}) "
           f"while the training loss fell from {first_train:.4g} to {last_train:.4g}: the validation data "
           "do not match what the model learns from")
    causes = [CauseHint(Category.DATA, cw.VALIDATION_MISMATCH,
                        "prepare the validation data exactly as the training data (the "
                        "same normalization, encoding and label order), and check that inputs and labels of "
                        "the validation set still belong together")]
    evidence = {"val_loss": val.tolist(), "eval_steps": eval_steps, "train_first": first_train,
                "train_last": last_train, "chance_level": chance,
                "detected_at_step": int(trace.last_step), "steps_needed": int(trace.last_step)}
    return [Finding(symptom=Symptom.LOSS_NOT_DECREASING, phase=Phase.METRIC, layer=None, step=eval_steps[0],
                    epoch=vals[eval_steps[0]][0], message=msg, evidence=evidence, causes=causes)]
