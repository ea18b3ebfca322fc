"""unchanged_weights: trainable layers whose parameters stop changing although training goes on.

A trainable layer (``trainable_params > 0``; layers without parameters are skipped) is unchanged when
``||update|| <= unchanged_update_rtol * ||w||`` (or, without an UPDATE record, its weight summary is identical
step to step) for the last ``unchanged_steps`` measured steps while it receives a non-zero gradient (a zero
gradient is vanishing_gradient's business). Deliberately frozen layers (no trainable parameters) are never
reported, unless every layer is frozen (``frozen_model``, pre-flight: nothing can be learned); nor, as faults,
layers no gradient reaches that the training step leaves out or that are embedding tables (pretrained
vectors kept fixed by detaching the lookup): those are warnings, "a fixed part of the model". When every
trainable layer is unchanged, one model-level finding names the learning rate (lr == 0) or the training loop
(optimizer.step() missing, optimizer built over other parameters).

Weights also stop changing when training has converged to float precision: an update smaller than half the
spacing of float32 numbers around the weights rounds away, however well the optimizer works (a converged
linear regression trained by plain gradient descent, whose gradient shrinks to rounding noise). Such a layer
is not reported: its gain (update per gradient: the probe's last one clear of rounding, else a plain
optimizer's learning rate) times its gradient is below the spacing of its weights' dtype at every unchanged
step (``_rounds_away``). A layer never seen moving under an adaptive optimizer has no known gain and is
judged as before.
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
from deeplocalize.model import LayerInfo, ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Severity, Symptom

_STATS = [sm.MIN, sm.MAX, sm.MEAN, sm.STD, sm.NORM]
_LOOKUP_TYPES = frozenset({"Embedding", "EmbeddingBag"})  # (torch and Keras layer types)


def _unchanged(trace: Trace, index: int, rtol: float) -> tuple[np.ndarray, np.ndarray]:
    """(unchanged, measured) per step for one layer."""
    w = trace.matrix(index, Channel.WEIGHTS)
    up = trace.matrix(index, Channel.UPDATE)
    if np.isfinite(up[:, sm.NORM]).any():
        measured = np.isfinite(up[:, sm.NORM]) & np.isfinite(w[:, sm.NORM])
        with np.errstate(invalid="ignore"):
            same = up[:, sm.NORM] <= rtol * w[:, sm.NORM]
        return same & measured, measured
    cur = w[:, _STATS]
    full = np.flatnonzero(np.isfinite(cur).all(axis=1))  # full-statistics steps (every stats_every steps)
    measured = np.zeros(len(cur), dtype=bool)
    same = np.zeros(len(cur), dtype=bool)
    if len(full) > 1:  # each full step against the previous full one
        measured[full[1:]] = True
        same[full[1:]] = np.isclose(cur[full[1:]], cur[full[:-1]], rtol=rtol, atol=0.0).all(axis=1)
    return same, measured


def _tail_unchanged(same: np.ndarray, measured: np.ndarray, n: int) -> bool:
    vals = same[measured]
    return len(vals) >= n and bool(vals[-n:].all())


def _recent_grad_rms(trace: Trace, index: int, n: int) -> float:
    """Median RMS gradient of the last n measured steps (NaN when no gradient is recorded)."""
    g = cm.rms_series(trace.matrix(index, Channel.WEIGHT_GRAD))
    g = g[np.isfinite(g)][-n:]
    return float(np.median(g)) if g.size else float("nan")


def _gain(model: ModelInfo, trace: Trace, layer: LayerInfo | None) -> float | None:
    """Update per unit of gradient: the probe's observed one for the layer, else a plain (non-adaptive)
    optimizer's step size lr / (1 - momentum); None when unknown or zero (a zero lr is a fault)."""
    seen = layer.extra.get("update_gain") if layer is not None else None
    if seen:
        return float(seen)
    opt = model.optimizer
    lr = fixes.current_lr(model, trace)
    if opt is None or opt.adaptive or not lr or lr <= 0:
        return None
    return lr / (1.0 - min(opt.momentum or 0.0, 0.99))


def _rounds_away(trace: Trace, model: ModelInfo, index: int, same: np.ndarray, measured: np.ndarray,
                 n: int) -> bool:
    """At each of the last ``n`` unchanged steps, gain * ||g|| is below the spacing of the weights' dtype
    (eps * ||w||, float32 unless the facts say otherwise): the update rounds away (converged to float
    precision), the optimizer is not at fault."""
    layer = cm.info(model, index)
    gain = _gain(model, trace, layer)
    if gain is None:
        return False
    dtype = layer.extra.get("param_dtype", "") if layer is not None else ""
    eps = sm.EPSILON.get(dtype, sm.EPSILON["float32"])
    rows = np.flatnonzero(measured)[-n:]
    g = trace.matrix(index, Channel.WEIGHT_GRAD)[rows, sm.NORM]
    w = trace.matrix(index, Channel.WEIGHTS)[rows, sm.NORM]
    with np.errstate(invalid="ignore"):
        return bool(np.isfinite(g).all() and (gain * g <= eps * w).all())


def _receives_gradient(rms: float, reference: float, config: Config) -> bool:
    """A gradient big enough that a working optimizer would move the weights (unknown counts as yes).

    Not vanishing (``vanishing_grad_abs``) and, when other layers change, not ``vanishing_grad_ratio`` below
    their median: a tiny update from a tiny gradient is vanishing_gradient's finding, not this one.
    """
    if np.isnan(rms):
        return True
    if rms <= config.vanishing_grad_abs:
        return False
    return np.isnan(reference) or rms >= config.vanishing_grad_ratio * reference


@register("unchanged_weights", "check")
def unchanged_weights(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """Per-layer findings when some layers change and others do not; one model-level one when none change."""
    n = config.unchanged_steps if cm.measured_every(trace) <= 1 else config.unchanged_steps_sparse
    steps = trace.steps()
    status: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i in sorted(set(cm.indices(trace, Channel.WEIGHTS)) | set(cm.indices(trace, Channel.UPDATE))):
        w_mag = np.nanmax(np.append(cm.max_abs_series(trace.matrix(i, Channel.WEIGHTS)), 0.0))
        if cm.trainable(model, i, trace) and w_mag < config.exploding_weight_abs:  # exploded: not "unchanged"
            status[i] = _unchanged(trace, i, config.unchanged_update_rtol)
    judged = {i: _tail_unchanged(same, meas, n) for i, (same, meas) in status.items() if meas.sum() >= n}
    rms = {i: _recent_grad_rms(trace, i, n) for i in judged}
    moving = [rms[i] for i, still in judged.items() if not still and np.isfinite(rms[i])]
    reference = float(np.median(moving)) if moving else float("nan")
    stuck = [i for i, still in judged.items() if still and _receives_gradient(rms[i], reference, config)
             and not _rounds_away(trace, model, i, *status[i], n)]
    if not stuck:
        return []
    if cm.loss_converged(trace, config.converged_loss):
        return []
    first = {i: _run_start(steps, *status[i]) for i in stuck}
    if len(stuck) == len(judged) and all(judged.values()):
        return [_model_level(trace, model, config, stuck, min(first.values()))]
    gradless = [i for i in stuck if (x := cm.info(model, i)) is not None and x.extra.get("no_gradient")]
    fixed = [i for i in gradless if _fixed_part(model, i)]
    lookup = [i for i in gradless if i not in fixed and _lookup_table(model, i)]
    cut = [i for i in gradless if i not in fixed and i not in lookup]
    found = [_layer_level(trace, model, i, first[i]) for i in stuck if i not in gradless]
    if cut:
        found.append(_no_gradient(trace, model, cut, min(first[i] for i in cut)))
    if fixed:
        found.append(_fixed_part_level(trace, model, fixed, min(first[i] for i in fixed)))
    if lookup:
        found.append(_fixed_part_level(trace, model, lookup, min(first[i] for i in lookup), lookup=True))
    return found


def _fixed_part(model: ModelInfo, index: int) -> bool:
    """A layer that no gradient reaches is also one the training step leaves alone: no optimizer holds its
    parameters (torch), or a ``train_step`` of the user's own decides what it trains (Keras). Two choices
    made on purpose: a teacher in distillation, a target network, a feature extractor run without
    gradients."""
    layer = cm.info(model, index)
    own_step = model.framework == "keras" and model.extra.get("custom_train_step")
    return layer is not None and bool(layer.extra.get("not_optimized") or own_step)


def _lookup_table(model: ModelInfo, index: int) -> bool:
    """An embedding table: one that no gradient reaches is most often pretrained word vectors kept fixed by
    detaching the lookup's output (``Variable(embed.data)``, ``.detach()``), the older idiom for a frozen
    input stage; the layers after it learn."""
    layer = cm.info(model, index)
    return layer is not None and layer.type in _LOOKUP_TYPES


def _run_start(steps: np.ndarray, same: np.ndarray, measured: np.ndarray) -> int:
    """First step of the trailing run of unchanged measured steps."""
    s, v = steps[measured], same[measured]
    k = len(v)
    while k > 0 and v[k - 1]:
        k -= 1
    return int(s[k])


def _model_level(trace: Trace, model: ModelInfo, config: Config, stuck: list[int], step: int) -> Finding:
    lr = fixes.current_lr(model, trace)
    if lr is not None and lr > 0 and fixes.lr_outside_usual(model, trace, config.lr_far_factor) == "low":
        causes = [cm.cause(Category.LEARNING_RATE, cw.UNCHANGED_LR_FAR_LOW,
                           f"the weights do not move: {fixes.lr_fix(model, trace, 'low')}", model, None)]
    elif lr is not None and lr == 0:
        causes = [
            cm.cause(
                Category.LEARNING_RATE,
                cw.UNCHANGED_LR_ZERO,
                "the learning rate is 0: set a positive one (e.g. 1e-3 "
                "for Adam, 0.01 for SGD) and check the lr schedule",
                model,
                None,
            )
        ]
    elif model.framework == "keras":  # fit steps the optimizer itself: what is left is what it may change
        causes = [
            cm.cause(Category.TRAINING, cw.UNCHANGED_KERAS_FROZEN,
                     "no weight changes: check that the layers are trainable "
                     "(layer.trainable = True before compile()) and recompile after changing it", model,
                     None),
            cm.cause(Category.OPTIMIZER, cw.UNCHANGED_OPTIMIZER_SETTINGS,
                     f"the optimizer does not move the weights (lr={cm.fmt(lr)}): "
                     "check its settings", model, None),
        ]
    else:
        stale = ("its optimizer steps none of this model's parameters: it was built on another copy of the "
                 "model (a model made again after the optimizer); build the optimizer from the model that is "
                 "trained, after creating it" if model.extra.get("stale_optimizer") else
                 "no weight changes although gradients are computed: call "
                 "optimizer.step() after loss.backward(), and build the optimizer over model.parameters()")
        causes = [
            cm.cause(Category.TRAINING, cw.UNCHANGED_NO_OPTIMIZER_STEP, stale, model, None),
            cm.cause(
                Category.OPTIMIZER,
                cw.UNCHANGED_OPTIMIZER_SETTINGS,
                f"the optimizer does not move the weights (lr={cm.fmt(lr)}): check "
                "its parameter groups and settings",
                model,
                None,
            ),
        ]
    return cm.finding(
        Symptom.UNCHANGED_WEIGHTS,
        Phase.UPDATE,
        model,
        trace,
        None,
        step,
        f"no trainable layer changed its weights since step {step}",
        {"layers": cm.names(model, stuck), "lr": lr},
        causes,
    )


def _layer_level(trace: Trace, model: ModelInfo, index: int, step: int) -> Finding:
    lname = cm.name(model, index)
    if _is_norm_layer(model, index):
        return _norm_layer_level(trace, model, index, step)
    causes = [
        cm.cause(
            Category.TRAINING,
            cw.UNCHANGED_LAYER_NOT_IN_OPTIMIZER,
            f"layer {lname} receives gradients but its weights never change: add its "
            "parameters to the optimizer (or unfreeze it if it was frozen by mistake)",
            model,
            index,
        ),
        cm.cause(
            Category.OPTIMIZER,
            cw.UNCHANGED_LAYER_PARAM_GROUPS,
            f"check the optimizer's parameter groups (lr, masks) for layer {lname}",
            model,
            index,
        ),
    ]
    return cm.finding(
        Symptom.UNCHANGED_WEIGHTS,
        Phase.UPDATE,
        model,
        trace,
        index,
        step,
        f"the weights of layer {lname} have not changed since step {step} while other layers learn",
        {"lr": fixes.current_lr(model, trace)},
        causes,
    )


#: Layers whose type names say "norm" but that wrap or are weight layers (Keras ``SpectralNormalization``,
#: a cosine classifier's ``NormedLinear``, weight-normalized layers): left out, they are a fault as any other.
_WEIGHT_LAYER_NORMS = ("spectral", "weight", "normed")


def _is_norm_layer(model: ModelInfo, index: int) -> bool:
    """A normalization layer proper (BatchNorm, LayerNorm, GroupNorm, RMSNorm, ...)."""
    kind = cm.kind(model, index)
    return cm.is_normalizing(model, index) and not any(w in kind for w in _WEIGHT_LAYER_NORMS)


def _norm_layer_level(trace: Trace, model: ModelInfo, index: int, step: int) -> Finding:
    """A normalization layer left out of the optimizer while the layers around it learn: usually deliberate
    (a frozen BatchNorm when fine-tuning: Lightning's ``BaseFinetuning(train_bn=False)``, torchvision's
    ``FrozenBatchNorm2d``). Its scale and shift stay at their values, which the layers around it can absorb,
    also when it was left out by mistake (a forgotten no-weight-decay group): a warning, not a fault."""
    lname = cm.name(model, index)
    return cm.finding(
        Symptom.UNCHANGED_WEIGHTS, Phase.UPDATE, model, trace, index, step,
        f"the weights of normalization layer {lname} have not changed since step {step} while other layers "
        "learn (a frozen normalization layer, usual when fine-tuning)",
        {"lr": fixes.current_lr(model, trace), "normalization": True},
        [cm.cause(Category.TRAINING, cw.UNCHANGED_LAYER_NOT_IN_OPTIMIZER,
                  f"if layer {lname} is not meant to be frozen, add its parameters to the optimizer (with "
                  "Lightning's BaseFinetuning: train_bn=True)", model, index)],
    ).with_severity(Severity.WARNING)


def _named(model: ModelInfo, layers: list[int]) -> tuple[int, list[str], str]:
    """The first of ``layers`` (forward order), their names, and how a message names them."""
    names = cm.names(model, sorted(layers))
    which = f"layer `{names[0]}`" if len(names) == 1 else (
        f"{len(names)} layers, from `{names[0]}` to `{names[-1]}`,")
    return min(layers), names, which


def _no_gradient(trace: Trace, model: ModelInfo, stuck: list[int], step: int) -> Finding:
    """One finding for the trainable layers no gradient reaches (``.grad`` stays None), at the first."""
    first, names, which = _named(model, stuck)
    uncalled = _not_called(trace, model, stuck)
    if uncalled:  # a branch the forward stopped taking: the path to the loss is fine, no input reaches them
        why = (" and did not run in the forward of the last statistics step: a branch the forward no longer "
               "takes (experts a router sends nothing to, a head used only sometimes)")
        fix = (f"if {which.rstrip(',')} should learn, make the forward use them (for a mixture of experts, "
               "add a load-balancing loss so the router spreads its inputs); if not, leave them out of the "
               "model or the optimizer")
    elif model.framework == "keras":
        why = ""
        fix = (f"connect {which.rstrip(',')} to the loss: remove the ops.stop_gradient (or the no-gradient "
               "call) on the path")
    else:
        why = ""
        fix = (f"connect {which.rstrip(',')} to the loss: remove the torch.no_grad()/.detach() on the "
               "path; with activation checkpointing use use_reentrant=False (a re-entrant checkpoint "
               "whose input does not require grad passes no gradient to the layers inside)")
    return cm.finding(
        Symptom.UNCHANGED_WEIGHTS, Phase.BACKWARD, model, trace, first, step,
        f"no gradient reaches {which} although trainable (.grad stays None){why}: the weights have not "
        f"changed since step {step} while other layers learn",
        {"lr": fixes.current_lr(model, trace), "no_gradient": True, "layers": names, "not_called": uncalled},
        [cm.cause(Category.TRAINING, cw.UNCHANGED_NO_GRADIENT, fix, model, first)],
    )


def _fixed_part_level(trace: Trace, model: ModelInfo, fixed: list[int], step: int,
                      lookup: bool = False) -> Finding:
    """The layers no gradient reaches and the training step does not update (``_fixed_part``), or embedding
    tables no gradient reaches (``lookup``): a warning, as a frozen normalization layer is; the layers
    around them learn."""
    first, names, which = _named(model, fixed)
    one = len(names) == 1
    it = "it" if one else "them"
    if lookup:
        how = "it is an embedding table" if one else "they are embedding tables"
        kind = "frozen word vectors"
        fix = (f"if {which.rstrip(',')} should learn, remove the .detach() (or .data) after the lookup; "
               "pretrained vectors are often kept fixed on purpose")
    else:
        how = (f"the model's own train_step leaves {it} out" if model.framework == "keras"
               else f"no optimizer holds the parameters of {it}")
        kind = "a teacher, a target network, a frozen feature extractor"
        fix = (f"if {which.rstrip(',')} should learn, compute the loss's gradient for its weights and give "
               "them to the optimizer; a teacher or target network is meant to stay fixed")
    return cm.finding(
        Symptom.UNCHANGED_WEIGHTS, Phase.UPDATE, model, trace, first, step,
        f"{which} {'is a fixed part' if one else 'are fixed parts'} of the model: no gradient reaches {it} "
        f"and {how}, so the weights have not changed since step {step} while other layers learn ({kind})",
        {"lr": fixes.current_lr(model, trace), "no_gradient": True, "fixed_part": True, "layers": names},
        [cm.cause(Category.TRAINING, cw.UNCHANGED_FIXED_PART, fix, model, first)],
    ).with_severity(Severity.WARNING)


def _not_called(trace: Trace, model: ModelInfo, stuck: list[int]) -> bool:
    """Whether none of ``stuck`` ran in the forward of the last statistics step (the last step at which some
    layer's output was measured)."""
    outputs = {layer.index: trace.series(layer.index, Channel.OUTPUT, "numel") for layer in model.layers}
    if not outputs:
        return False
    measured = np.flatnonzero(np.isfinite(np.vstack(list(outputs.values()))).any(axis=0))
    if not len(measured):
        return False
    last = int(measured[-1])
    return all(i not in outputs or not np.isfinite(outputs[i][last]) for i in stuck)


@register("frozen_model", "first")
def frozen_model(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """Pre-flight: training runs although no layer has a trainable parameter (every layer frozen).

    Fine-tuning freezes some layers and trains others; with every parameter frozen nothing can be learned,
    whatever the optimizer does. Needs the model facts (parameter counts); silent when they are unknown.
    """
    rec = trace.first
    layers = [layer for layer in model.layers if layer.params > 0]
    if rec is None or not layers or any(layer.trainable_params > 0 for layer in layers):
        return []
    if any(trace.has(layer.index, Channel.UPDATE) for layer in layers):
        return []  # updates are recorded: the facts are stale
    total = sum(layer.params for layer in layers)
    fix = ("every layer is frozen (trainable=False / requires_grad=False): nothing can be learned; unfreeze "
           f"the layers to train ({total} parameters, 0 trainable)")
    return [cm.finding(
        Symptom.UNCHANGED_WEIGHTS, Phase.STATIC, model, trace, None, rec.step,
        f"no layer has trainable parameters ({total} parameters, all frozen): the weights can never change",
        {"params": total, "trainable_params": 0, "rule": "all_frozen"},
        [cm.cause(Category.TRAINING, cw.FROZEN_MODEL, fix, model, None)], rec.step)]
