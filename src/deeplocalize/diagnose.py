"""The root-cause engine: findings -> verdict and ranked root causes, each with a concrete fix.

Each finding votes for causes (its own ``CauseHint``s, or ``causes.DEFAULT_CAUSES`` for its symptom); run-wide
signals add votes: DeepDiagnosis' learning-rate rule on the update/weight norm ratio from the trace, an
unnormalized input found at pre-flight, large regression targets, and an invalid or extreme optimizer setting
(momentum or a beta >= 1, huge eps or weight decay), and, for a run that stalls or whose units die, the
model's structure (``structure.py``: a layer frozen at its random initialization, a dropout that drops most of
its inputs). When the only evidence is a curve that does not learn,
``stuck_hints`` adds what the curve cannot say: a learning rate outside the optimizer's usual range, stacked
layers without a non-linearity, or, at chance with healthy update ratios, labels that do not match their
inputs. Votes for initialization at several layers are one model-wide fault, named at the first layer. Votes
are grouped by (category, layer) and combined with a noisy-OR; votes of findings confirmed later than the
earliest one are discounted (the earliest symptom is usually the closest to the cause), and the generic curve
symptoms (the loss or accuracy does not improve) count once and yield to any specific finding, of which they
are usually the effect. The weights of the votes live in ``causes.py`` (named constants) and ``Config``
(the user-settable ``*_vote``s). numpy + stdlib only.
"""

from __future__ import annotations

import math
from collections import defaultdict

from deeplocalize import causes as cw
from deeplocalize import fixes
from deeplocalize.causes import DEFAULT_CAUSES, NUMERICAL_BY_PHASE
from deeplocalize.causes import Default as Default  # re-exported: the table's entry type
from deeplocalize.config import Config
from deeplocalize.detectors._common import update_ratio
from deeplocalize.diagnosis import CauseHint, Finding, RootCause
from deeplocalize.model import LayerRef, ModelInfo
from deeplocalize.structure import batch_read_as_time, extreme_dropout, frozen_at_random_init, linear_stack
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Phase, Severity, Symptom, Verdict

_MAX_CONFIDENCE = 0.99

_LR, _OPT, _ACT = Category.LEARNING_RATE, Category.OPTIMIZER, Category.ACTIVATION
_DATA, _ARCH, _TRAIN = Category.DATA, Category.ARCHITECTURE, Category.TRAINING

#: Generic "does not learn" symptoms of the whole curve: effects of a more specific fault when there is one.
CURVE_SYMPTOMS = frozenset({
    Symptom.LOSS_NOT_DECREASING, Symptom.ACCURACY_NOT_INCREASING, Symptom.OSCILLATING_LOSS,
    Symptom.SLOW_CONVERGENCE,
})
#: Symptoms a too-high learning rate explains (DeepDiagnosis: update/weight ratio > 0.1).
LR_HIGH_SYMPTOMS = frozenset({
    Symptom.NUMERICAL_ERROR, Symptom.EXPLODING_TENSOR, Symptom.EXPLODING_GRADIENT, Symptom.DEAD_UNITS,
    Symptom.SATURATED_ACTIVATION, Symptom.CONSTANT_OUTPUT, Symptom.LOSS_NOT_DECREASING,
    Symptom.ACCURACY_NOT_INCREASING, Symptom.OSCILLATING_LOSS,
})
#: ... and, when the learning rate is far above the usual range, the dead or vanished gradients its first
#: huge steps leave behind.
LR_FAR_HIGH_SYMPTOMS = LR_HIGH_SYMPTOMS | {Symptom.VANISHING_GRADIENT}
#: Symptoms a too-low learning rate explains (ratio < 1e-5).
LR_LOW_SYMPTOMS = frozenset({
    Symptom.LOSS_NOT_DECREASING, Symptom.ACCURACY_NOT_INCREASING, Symptom.SLOW_CONVERGENCE,
    Symptom.VANISHING_GRADIENT,
})
#: Symptoms large regression targets (MSE on values in the thousands) explain.
TARGET_SCALE_SYMPTOMS = frozenset({
    Symptom.NUMERICAL_ERROR, Symptom.EXPLODING_TENSOR, Symptom.EXPLODING_GRADIENT, Symptom.OSCILLATING_LOSS,
    Symptom.LOSS_NOT_DECREASING, Symptom.SLOW_CONVERGENCE,
})
#: Symptoms an invalid or extreme optimizer setting (momentum/beta >= 1, huge eps or weight decay) explains.
OPTIMIZER_SYMPTOMS = LR_HIGH_SYMPTOMS | LR_LOW_SYMPTOMS | CURVE_SYMPTOMS | {Symptom.UNCHANGED_WEIGHTS}
#: Symptoms of a model that cannot learn, which its structure explains (``structure``): a layer frozen at
#: random weights or a dropout that drops most of its inputs stalls learning; the survivors of such a
#: dropout, scaled by 1 / (1 - rate), push the next units into death or saturation.
STALL_SYMPTOMS = CURVE_SYMPTOMS | {Symptom.DEAD_UNITS, Symptom.SATURATED_ACTIVATION}
#: Symptoms raw, unscaled inputs explain.
DATA_SYMPTOMS = frozenset({
    Symptom.NUMERICAL_ERROR, Symptom.EXPLODING_TENSOR, Symptom.SATURATED_ACTIVATION, Symptom.DEAD_UNITS,
    Symptom.LOSS_NOT_DECREASING, Symptom.ACCURACY_NOT_INCREASING, Symptom.OSCILLATING_LOSS,
    Symptom.POOR_INITIALIZATION, Symptom.CONSTANT_OUTPUT,
})


def diagnose(findings: list[Finding], trace: Trace, model: ModelInfo,
             config: Config) -> tuple[Verdict, list[RootCause]]:
    """The verdict and the root causes, most likely first (``RootCause.findings`` index ``findings``).

    ``findings`` carry their effective severity (``severity.resolve``): the run is faulty only when one is a
    fault, and only faults vote for root causes. Each warning gets its own advice in its evidence
    (``advice``: the fix of its likeliest cause; ``advice_category``: that cause's category).
    """
    for finding in findings:
        if finding.effective_severity == Severity.WARNING and "advice" not in finding.evidence:
            hints = hints_for(finding, trace, model)
            if hints:
                best = max(hints, key=lambda h: h.weight)
                finding.evidence["advice"] = best.fix
                finding.evidence["advice_category"] = str(best.category)
    if not any(f.effective_severity == Severity.FAULT for f in findings):
        short = trace.steps_observed < config.min_steps_for_verdict
        return (Verdict.INCONCLUSIVE if short else Verdict.HEALTHY), []
    return Verdict.FAULTY, rank_causes(findings, trace, model, config)


def rank_causes(findings: list[Finding], trace: Trace, model: ModelInfo, config: Config) -> list[RootCause]:
    """Group every finding's votes by (category, layer), noisy-OR their weights, sort most likely first.

    The generic curve symptoms are one piece of evidence ("it does not learn"): their votes for a cause are
    merged by max, not noisy-OR, and discounted when a specific finding exists to explain them.
    """
    faults = [f for f in findings if f.effective_severity == Severity.FAULT]
    earliest = min(confirmed_at(f) for f in faults)
    specific = any(Symptom(f.symptom) not in CURVE_SYMPTOMS for f in faults)
    ratio = update_ratio(trace, model)
    unnormalized = any(f.symptom == Symptom.UNNORMALIZED_INPUT for f in findings)
    stuck = [] if specific else stuck_hints(faults, trace, model, config, ratio)
    votes: dict[tuple[Category, int | None], list[tuple[float, CauseHint, int]]] = defaultdict(list)
    generic: dict[tuple[Category, int | None], list[tuple[float, CauseHint, int]]] = defaultdict(list)
    for i, finding in enumerate(findings):
        if finding.effective_severity != Severity.FAULT or finding.evidence.get("received_from_ranks"):
            continue  # a NaN another rank made and the gradient all-reduce brought here votes there
        factor = 1.0 if confirmed_at(finding) == earliest else config.later_finding_discount
        is_generic = Symptom(finding.symptom) in CURVE_SYMPTOMS
        if is_generic and specific:
            factor *= config.generic_finding_discount
        hints = hints_for(finding, trace, model) + run_wide_hints(finding, trace, model, config, ratio,
                                                                   unnormalized)
        if is_generic:
            hints += stuck
        for hint in hints:
            key = (Category(hint.category), None if hint.layer is None else hint.layer.index)
            weight = min(max(hint.weight, 0.0), 1.0) * factor
            (generic if is_generic else votes)[key].append((weight, hint, i))
    for key, cast in generic.items():  # one merged vote per cause from all curve findings
        weight, hint, _ = max(cast, key=lambda item: item[0])
        votes[key].extend((weight if j == 0 else 0.0, hint, i) for j, (_, _, i) in enumerate(cast))
    _merge_spanning(votes, Category.INITIALIZATION)
    causes: list[tuple[int, int, RootCause]] = []
    for (category, index), cast in votes.items():
        confidence = 1.0 - math.prod(1.0 - w for w, _, _ in cast)
        own = [item for item in cast if (item[1].layer.index if item[1].layer is not None else None) == index]
        _, top, top_index = max(own or cast, key=lambda item: item[0])
        indices = sorted({i for _, _, i in cast})
        first = min(confirmed_at(findings[i]) for i in indices)
        fix = top.fix + _explanation(findings[top_index])
        cause = RootCause(category=category, layer=top.layer, confidence=min(confidence, _MAX_CONFIDENCE),
                          fix=fix, findings=indices)
        causes.append((first, -1 if top.layer is None else top.layer.index, cause))
    causes.sort(key=lambda item: (-round(item[2].confidence, 6), item[0], item[1]))
    return [cause for _, _, cause in causes]


def _explanation(finding: Finding) -> str:
    """For a warning made a fault by the failures it explains: the sentence that says so."""
    if not finding.explains:
        return ""
    seen = ", ".join(s.replace("_", " ") for s in finding.explains)
    return f" ({finding.symptom.replace('_', ' ')} explains the {seen} seen in this run)"


def _merge_spanning(votes: dict[tuple[Category, int | None], list[tuple[float, CauseHint, int]]],
                    category: Category) -> None:
    """Votes for one category at several layers (e.g. every layer initialized at the wrong scale) are one
    model-wide fault: merged into the first of those layers in forward order (DESIGN: a fault spanning
    several layers is reported at the first), confidence combined."""
    keys = sorted((k for k in votes if k[0] == category and k[1] is not None), key=lambda k: k[1])
    if len(keys) < 2:
        return
    first = keys[0]
    for key in keys[1:]:
        votes[first].extend(votes.pop(key))


def stuck_hints(findings: list[Finding], trace: Trace, model: ModelInfo, config: Config,
                ratio: tuple[float, LayerRef | None, float] | None) -> list[CauseHint]:
    """Votes when the only evidence is a curve that does not learn (no specific finding explains it).

    Checked in order, each on facts the curve alone cannot give: a learning rate outside the optimizer's
    usual range (learning_rate); stacked layers with no non-linearity between them, one linear map that
    cannot fit a non-linear task (architecture / activation at the first such layer); and, when the run sits
    at chance although every layer updates at a healthy pace (update/weight ratio inside the DeepDiagnosis
    band), labels that do not match their inputs (data).
    """
    at_chance = any(bool(f.evidence.get("at_chance")) or f.symptom == Symptom.ACCURACY_NOT_INCREASING
                    for f in findings if Symptom(f.symptom) in (Symptom.LOSS_NOT_DECREASING,
                                                                 Symptom.ACCURACY_NOT_INCREASING))
    out: list[CauseHint] = []
    layers = sorted(model.layers, key=lambda x: x.index)
    frozen = [x for x in layers if x.params > 0 and x.trainable_params == 0]
    if frozen and any(x.trainable_params > 0 for x in model.layers):
        names = ", ".join(f"`{x.name}`" for x in frozen[:4]) + (" ..." if len(frozen) > 4 else "")
        out.append(CauseHint(_TRAIN, config.structure_vote,
                             f"layers {names} are frozen (requires_grad=False / trainable=False) and never "
                             "learn: unfreeze them unless that is deliberate, and check that every trained "
                             "parameter is in the optimizer", frozen[0].ref))
        return out
    if fixes.optimizer_setting_problem(model) is not None:
        return out  # run_wide_hints votes for the optimizer setting
    direction = fixes.lr_outside_usual(model, trace)
    if direction is not None:
        out.append(CauseHint(_LR, config.stuck_vote, fixes.lr_fix(model, trace, direction,
                                                                  "the loss does not improve")))
        return out
    linear = linear_stack(model, trace)
    if linear is not None:
        first, second = linear
        why = (f"layers {fixes.layer_label(first.ref, model)} and {fixes.layer_label(second.ref, model)} "
               "follow each other with no activation between them: together they are one linear map")
        out.append(CauseHint(_ARCH, config.structure_vote, f"{why}; add a non-linearity (e.g. relu) after "
                             f"{fixes.layer_label(first.ref, model)}", first.ref))
        label = fixes.layer_label(first.ref, model)
        out.append(CauseHint(_ACT, config.structure_vote * cw.LINEAR_STACK_ACTIVATION_FACTOR,
                             f"{why}; give {label} an activation "
                             "(activation='relu' / nn.ReLU())", first.ref))
        return out
    misread = batch_read_as_time(model)
    if misread is not None:
        label = fixes.layer_label(misread.ref, model)
        out.append(CauseHint(_ARCH, config.structure_vote,
                             f"{label} expects (time, batch, features) (batch_first=False) but its input "
                             f"has the batch of {model.data.y_shape[0]} on the first axis: it runs along the "
                             "batch instead of the sequence; pass batch_first=True", misread.ref))
        return out
    if at_chance and ratio is not None:
        _, _, typical = ratio
        if config.lr_update_ratio_low <= typical <= config.lr_update_ratio_high:
            reason = (f"the loss stays at chance although the weights update at a healthy pace "
                      f"({fixes.update_ratio_text(typical)}): there may be nothing to learn; ")
            out.append(CauseHint(_DATA, config.stuck_vote, reason + fixes.check_labels(model, trace, None)))
            recurrent = [layer for layer in model.layers
                         if (layer.type or "").lower().startswith(("lstm", "gru", "rnn", "simplernn"))]
            if recurrent:  # or the sequence reaches the recurrent layer in the wrong layout
                label = fixes.layer_label(recurrent[0].ref, model)
                out.append(CauseHint(_ARCH, config.stuck_vote * cw.RECURRENT_LAYOUT_FACTOR,
                                     f"or {label} does not see the sequence as meant: check the (batch, "
                                     "time, features) layout (batch_first=True) and which time step is read",
                                     recurrent[0].ref))
    return out


def confirmed_at(finding: Finding) -> int:
    """The step at which a finding was confirmed, else its first step."""
    return finding.confirmed_at


def hints_for(finding: Finding, trace: Trace, model: ModelInfo) -> list[CauseHint]:
    """The finding's own votes, else the default ones for its symptom (and phase, for numerical errors)."""
    if finding.causes:
        return list(finding.causes)
    table = DEFAULT_CAUSES.get(Symptom(finding.symptom), [])
    if finding.symptom == Symptom.NUMERICAL_ERROR:
        table = NUMERICAL_BY_PHASE.get(Phase(finding.phase), table)
    out = []
    for entry in table:
        layer = finding.layer if entry.at_layer else None
        if entry.fix is fixes.reinitialize:  # weights are changed where there are weights
            layer = fixes.weighted(model, layer)
        text = entry.fix(model, trace, layer)
        if text:  # an empty text: this fix does not apply here (e.g. zero_grad under Keras' fit)
            out.append(CauseHint(entry.category, entry.weight, text, layer))
    return out


def run_wide_hints(finding: Finding, trace: Trace, model: ModelInfo, config: Config,
                   ratio: tuple[float, LayerRef | None, float] | None, unnormalized: bool) -> list[CauseHint]:
    """Extra votes from the update/weight ratio (learning rate) and from unnormalized input (data)."""
    symptom = Symptom(finding.symptom)
    out: list[CauseHint] = []
    if ratio is not None:
        high, layer, typical = ratio
        if high > config.lr_update_ratio_high and symptom in LR_FAR_HIGH_SYMPTOMS:
            where = f" at {fixes.layer_label(layer, model)}" if layer is not None else ""
            limit = config.lr_update_ratio_high
            reason = f"{fixes.update_ratio_text(high)}{where}; DeepDiagnosis: > {limit:g}"
            out.append(CauseHint(_LR, cw.UPDATE_RATIO_HIGH_LR, fixes.lr_fix(model, trace, "high", reason)))
        elif 0 < typical < config.lr_update_ratio_low and symptom in LR_LOW_SYMPTOMS:
            reason = f"{fixes.update_ratio_text(typical)}; DeepDiagnosis: < {config.lr_update_ratio_low:g}"
            out.append(CauseHint(_LR, cw.UPDATE_RATIO_LOW_LR, fixes.lr_fix(model, trace, "low", reason)))
    far = fixes.lr_outside_usual(model, trace, config.lr_far_factor)
    far_low = LR_LOW_SYMPTOMS | {Symptom.UNCHANGED_WEIGHTS}
    if (far == "high" and symptom in LR_FAR_HIGH_SYMPTOMS) or (far == "low" and symptom in far_low):
        # a stated fact: an lr orders of magnitude outside the optimizer's usual range explains the failure
        out.append(CauseHint(_LR, config.lr_far_vote, fixes.lr_fix(model, trace, far)))
    setting = fixes.optimizer_setting_problem(model)
    if setting is not None and symptom in OPTIMIZER_SYMPTOMS and not any(
            c.category == _OPT and c.weight >= config.optimizer_setting_vote for c in finding.causes):
        out.append(CauseHint(_OPT, config.optimizer_setting_vote, setting))
    if unnormalized and symptom in DATA_SYMPTOMS:
        out.append(CauseHint(_DATA, cw.RUN_UNNORMALIZED_INPUT, fixes.normalize_inputs(model, trace, None)))
    frozen = frozen_at_random_init(model) if symptom in STALL_SYMPTOMS else None
    if frozen is not None:
        label = fixes.layer_label(frozen.ref, model)
        out.append(CauseHint(_TRAIN, config.structure_vote,
                             f"{label} is frozen (requires_grad=False / trainable=False) with weights that "
                             "are still a random initialization: it never learns and passes random features "
                             "on; make it trainable, or load the pretrained weights it was meant to keep",
                             frozen.ref))
    dropout = extreme_dropout(model, config.dropout_rate_high) if symptom in STALL_SYMPTOMS else None
    if dropout is not None:
        rate = float(dropout.extra["dropout_rate"])
        out.append(CauseHint(_ARCH, config.structure_vote,
                             f"{fixes.layer_label(dropout.ref, model)} drops {rate:.0%} of its inputs and "
                             f"scales the rest {1 / (1 - rate):.3g}x: use a rate of 0.1-0.5 (a keep "
                             f"probability of {rate:g} is a rate of {1 - rate:.2g})", dropout.ref))
    if symptom in TARGET_SCALE_SYMPTOMS and _large_regression_targets(model, config):
        out.append(CauseHint(_DATA, cw.RUN_LARGE_TARGETS, fixes.scale_targets(model, trace, None)))
    return out


def _large_regression_targets(model: ModelInfo, config: Config) -> bool:
    data, loss = model.data, model.loss
    if data is None or loss is None or loss.expects != "values" or data.y_min is None or data.y_max is None:
        return False
    return max(abs(data.y_min), abs(data.y_max)) > config.target_abs_max
