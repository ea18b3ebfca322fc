"""exploding_gradient and vanishing_gradient, per layer and along the network (weight gradients).

- exploding: the first-to-last layer gradient-norm ratio above ``exploding_grad_ratio`` (AUTOTRAINER), or a
  layer's gradient norm grown ``exploding_grad_growth``-fold while the loss does not improve (under an
  adaptive optimizer: from the largest layer gradient of the start; reported at the first layer in
  backward order where it appears), or gradients that grow step after step (missing
  ``zero_grad``: category training).
- vanishing: a layer's RMS gradient below ``vanishing_grad_abs`` (SageMaker; not an embedding, whose
  gradient touches only the rows of the batch's tokens), or gradients that fade along the depth: the
  median norm of the first third of the layers below ``vanishing_grad_ratio`` x the last third's, with a
  small first layer (AUTOTRAINER's first/last rule, over thirds so that one layer with naturally small
  gradients, an attention's query/key projection, is not a network whose gradient vanished); reported at
  the first layer in backward order where the gradient has become small. Not when the loss has converged;
  a fault when the loss does not improve, else a warning.
(recurrent_no_gradient, a vanishing gradient of a recurrent layer's own weights: ``gradients_recurrent``.)
"""

from __future__ import annotations

import math

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import fixes
from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors import register
from deeplocalize.detectors.gradient_chain import fading_chain
from deeplocalize.detectors.vanishing_causes import vanishing_causes
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Severity, Symptom


def _norms(trace: Trace) -> tuple[list[int], np.ndarray]:
    """Layers with a weight gradient (forward order) and their gradient norms, shape (steps, layers); shared
    by the detectors of one check (read-only)."""
    idx, norms = trace.derived("weight_grad_norms", lambda: _compute_norms(trace))
    return list(idx), norms


def _compute_norms(trace: Trace) -> tuple[list[int], np.ndarray]:
    idx = [
        i
        for i in cm.indices(trace, Channel.WEIGHT_GRAD)
        if np.nanmax(np.append(trace.series(i, Channel.WEIGHT_GRAD, "numel"), 0.0)) > 0
    ]
    if not idx:
        norms = np.empty((len(trace), 0))
    else:
        norms = np.stack([trace.series(i, Channel.WEIGHT_GRAD, "norm") for i in idx], axis=1)
    norms.flags.writeable = False
    return idx, norms


def _loss_not_improving(loss: np.ndarray) -> bool:
    """The last quarter's median loss is not 10% below the first quarter's (unknown counts as improving)."""
    loss = loss[np.isfinite(loss)]
    if loss.size < 4:
        return False
    q = max(1, loss.size // 4)
    return bool(np.median(loss[-q:]) >= 0.9 * np.median(loss[:q]))


def _loss_rising(loss: np.ndarray) -> bool:
    """The last quarter's median loss is above the first quarter's: the growth hurts (a fault)."""
    loss = loss[np.isfinite(loss)]
    if loss.size < 4:
        return False
    q = max(1, loss.size // 4)
    return bool(np.median(loss[-q:]) > np.median(loss[:q]))


def _initial_global_norm(trace: Trace) -> float:
    """The global gradient norm of the run's first recorded step (the scale growth is judged against)."""
    first = trace.first
    if first is None:
        return math.nan
    norms = [float(v[sm.NORM]) for (_, ch), v in first.stats.items() if ch == Channel.WEIGHT_GRAD]
    norms = [n for n in norms if math.isfinite(n)]
    return math.sqrt(sum(n * n for n in norms)) if norms else math.nan


def _severity(trace: Trace) -> Severity:
    """Growing gradients are a fault when the loss is hurt, a risk otherwise (``severity``)."""
    return Severity.FAULT if _loss_rising(trace.loss()) else Severity.WARNING


# ---------------------------------------------------------------------- exploding
@register("exploding_gradient", "check")
def exploding_gradient(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """Gradient accumulation (missing zero_grad), or else growth / first-to-last ratio."""
    idx, norms = _norms(trace)
    if not idx:
        return []
    updated = [col for col, i in enumerate(idx) if not _never_updated(trace, i, config)]
    accum = _accumulating(trace, model, config, [idx[c] for c in updated], norms[:, updated]) \
        if updated else None
    if accum is not None:
        return [accum]
    found = _growth(trace, model, config, idx, norms)
    return [found] if found is not None else _ratio(trace, model, config, idx, norms)


def _never_updated(trace: Trace, index: int, config: Config) -> bool:
    """No optimizer moves this layer's weights (every measured update ~0): its gradients are never reset
    by ``optimizer.zero_grad()`` either, so they accumulate by design of that bug (a layer left out of the
    optimizer, unchanged_weights' finding), not because the loop misses zero_grad."""
    up = trace.matrix(index, Channel.UPDATE)[:, sm.NORM]
    w = trace.matrix(index, Channel.WEIGHTS)[:, sm.NORM]
    ok = np.isfinite(up) & np.isfinite(w)
    return bool(ok.any() and (up[ok] <= config.unchanged_update_rtol * w[ok]).all())


def _accumulating(
    trace: Trace, model: ModelInfo, config: Config, idx: list[int], norms: np.ndarray
) -> Finding | None:
    if model.framework == "keras" or model.extra.get("grads_reset_seen") or model.extra.get("adversarial"):
        return None  # Model.fit and a loop seen resetting them do not accumulate; a GAN's loss need not fall
    steps = trace.steps()
    total = np.sqrt(np.sum(norms**2, axis=1))
    ok = np.isfinite(total)
    s, g, all_loss = steps[ok], total[ok], trace.loss()
    initial = _initial_global_norm(trace)
    # accum_min_steps consecutive steps, or accum_min_points measured ones when full statistics are sparse
    # (stats_every > 1): the same span of training, judged on the points the probe measured.
    every = max(1, int(np.median(np.diff(s)))) if s.size > 1 else 1
    n = max(config.accum_min_points, -(-config.accum_min_steps // every))
    if g.size < n:
        return None
    # Sparse points see only a few rises: then the pattern must hold from the first step (gradients that are
    # never reset accumulate from step 1), where later rises in a healthy run (after a dip) cannot pass.
    last = 1 if n < config.accum_min_steps else len(g) - n + 1
    rising = np.concatenate([[0], np.cumsum(np.diff(g) > 0)])
    rise_frac = (rising[n - 1:] - rising[: len(rising) - n + 1])[:last] / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        growths = np.where(g[:last] > 0, g[n - 1:][:last] / g[:last], np.inf)
    # a magnitude that matters: above the run's own start, not a rise from a tiny plateau level
    big = g[n - 1:][:last] >= config.accum_growth * initial if math.isfinite(initial) else True
    candidates = np.nonzero((rise_frac >= config.accum_rise_frac) & (growths >= config.accum_growth) & big)[0]
    for start in candidates:  # the earliest stretch of n steps that shows the pattern
        tail = g[start : start + n]
        tail_loss = all_loss[(steps >= s[start]) & (steps <= s[start + n - 1])]  # the loss: every step
        if _loss_not_improving(tail_loss):
            rises, growth = float(rise_frac[start]), float(growths[start])
            break
    else:
        return None
    while start > 0 and g[start - 1] < g[start]:  # walk back to where the steady rise began
        start -= 1
    causes = [
        cm.cause(
            Category.TRAINING,
            cw.GRAD_ACCUMULATING_ZERO_GRAD,
            "the gradients keep growing step after step, as if they accumulated: "
            + (fixes.zero_grad(model, trace, None) or "reset them once per step"),
            model,
            None,
        ),
        cm.cause(
            Category.LEARNING_RATE,
            cw.GRAD_ACCUMULATING_LR,
            f"if gradients are reset each step: {cm.lr_advice(trace, model)}",
            model,
            None,
        ),
    ]
    return cm.finding(
        Symptom.EXPLODING_GRADIENT,
        Phase.BACKWARD,
        model,
        trace,
        None,
        int(s[start]),
        f"the gradient norm rose in {cm.pct(rises)} of the last {n} measured steps "
        f"({cm.fmt(float(tail[0]))} -> "
        f"{cm.fmt(float(tail[-1]))}) while the loss did not improve",
        {
            "rise_fraction": rises,
            "growth": growth,
            "global_grad_norm": [float(x) for x in tail],
            "initial_grad_norm": initial,
            "pattern": "accumulating",
        },
        causes,
    ).with_severity(Severity.FAULT)


def _initial_layer_max(trace: Trace) -> float:
    """The largest layer gradient norm of the first step (0 when none was measured)."""
    first = trace.first
    if first is None:
        return 0.0
    norms = [float(v[sm.NORM]) for (_, ch), v in first.stats.items() if ch == Channel.WEIGHT_GRAD]
    norms = [n for n in norms if math.isfinite(n)]
    return max(norms, default=0.0)


def _growth(
    trace: Trace, model: ModelInfo, config: Config, idx: list[int], norms: np.ndarray
) -> Finding | None:
    if not _loss_not_improving(trace.loss()):
        return None
    steps = trace.steps()
    # a magnitude that matters: above the largest gradient any layer had at the start (a layer whose tiny
    # gradient grows to its neighbours' size as a plateau ends, e.g. attention keys, is no explosion). Under
    # an adaptive optimizer, whose steps do not grow with the gradient, growth is judged from that level
    # too: a key's gradient rising from 1e-5 to the size of the others is how the plateau ends.
    model_start = _initial_layer_max(trace)
    adaptive = model.optimizer is not None and model.optimizer.adaptive
    for col in range(len(idx) - 1, -1, -1):  # backward order: the first layer where it appears
        series = norms[:, col]
        ok = np.isfinite(series) & (series > 0)
        if ok.sum() < cm.sustain_points(config, trace, cm.series_every(steps, series)):
            continue
        s, g = steps[ok], series[ok]
        base = float(np.median(g[: max(1, len(g) // 10)]))
        start = trace.first.get(idx[col], Channel.WEIGHT_GRAD) if trace.first is not None else None
        if start is not None and math.isfinite(float(start[sm.NORM])):
            base = max(base, float(start[sm.NORM]))  # growth that matters: above the run's own start
        if adaptive:
            base = max(base, model_start)
        ratio = g / base
        hit = np.nonzero(ratio >= config.exploding_grad_growth)[0]
        if not hit.size or ratio[-1] < config.exploding_grad_growth**0.5 or g[-1] < model_start:
            continue
        i, step = idx[col], int(s[hit[0]])
        lname = cm.name(model, i)
        causes = [
            cm.cause(
                Category.LEARNING_RATE,
                cw.GRAD_GROWTH_LR,
                f"the gradient of layer {lname} grew {cm.fmt(float(ratio.max()))}x: "
                f"{cm.lr_advice(trace, model)}, or clip the gradients (clip_grad_norm_ / clipnorm)",
                model,
                i,
            )
        ]
        return cm.finding(
            Symptom.EXPLODING_GRADIENT,
            Phase.BACKWARD,
            model,
            trace,
            i,
            step,
            f"the gradient of layer {lname} grew {cm.fmt(float(ratio.max()))}-fold from "
            f"{cm.fmt(base)} while the loss did not improve",
            {
                "growth": float(ratio.max()),
                "initial_norm": base,
                "last_norm": float(g[-1]),
                "pattern": "growth",
            },
            causes,
        ).with_severity(_severity(trace))
    return None


def _ratio(
    trace: Trace, model: ModelInfo, config: Config, idx: list[int], norms: np.ndarray
) -> list[Finding]:
    if len(idx) < 2:
        return []
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = norms[:, 0] / norms[:, -1]
    measured = np.isfinite(ratio)
    cond = cm.as_cond(ratio > config.exploding_grad_ratio, measured)  # masks the non-finite rows
    points = cm.sustain_points(config, trace, cm.series_every(trace.steps(), ratio))
    step = cm.first_sustained(trace.steps(), cond, points, config.tensor_sustain_frac)
    if step is None:
        return []
    first = idx[0]
    med = float(np.nanmedian(ratio[measured][-points:]))
    lname, last = cm.name(model, first), cm.name(model, idx[-1])
    causes: list[CauseHint] = []
    data_mag = cm.data_max_abs(trace)
    if np.isfinite(data_mag) and data_mag > 10:
        causes.append(
            cm.cause(
                Category.DATA,
                cw.GRAD_RATIO_DATA,
                f"inputs reach |x| = {cm.fmt(data_mag)}, which scales the "
                f"gradient of {lname}: normalize the inputs",
                model,
                None,
            )
        )
    causes += [
        cm.cause(
            Category.LEARNING_RATE, cw.GRAD_RATIO_LR,
            f"{cm.lr_advice(trace, model)}, or clip the gradients", model, None
        ),
        cm.cause(
            Category.INITIALIZATION,
            cw.GRAD_RATIO_INIT,
            f"the gradient grows {cm.fmt(med)}x from {last} down to {lname}: use He/Glorot initialization",
            model,
            first,
        ),
        cm.cause(Category.ARCHITECTURE, cw.GRAD_RATIO_NORMALIZATION,
                 f"add BatchNorm between {lname} and {last}", model, first),
    ]
    return [
        cm.finding(
            Symptom.EXPLODING_GRADIENT,
            Phase.BACKWARD,
            model,
            trace,
            first,
            step,
            f"the gradient norm of the first layer {lname} is {cm.fmt(med)}x that of the last layer {last}",
            {"ratio_first_last": med, "threshold": config.exploding_grad_ratio, "pattern": "ratio"},
            causes,
        ).with_severity(_severity(trace))
    ]


# ---------------------------------------------------------------------- vanishing
@register("vanishing_gradient", "check")
def vanishing_gradient(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """One finding, at the first layer in backward order whose gradient has vanished."""
    idx, norms = _norms(trace)
    if not idx or cm.loss_converged(trace, config.converged_loss):
        return []
    numel = np.stack([trace.series(i, Channel.WEIGHT_GRAD, "numel") for i in idx], axis=1)
    # a "layer" of one scalar (a tensor watched on its own) has one partial derivative, near zero wherever
    # that coordinate is stationary (at a symmetric point, or converged): no signal through depth to vanish
    keep = [col for col in range(len(idx)) if np.nanmax(np.append(numel[:, col], 0.0)) > 1]
    idx, norms, numel = [idx[col] for col in keep], norms[:, keep], numel[:, keep]
    if not idx:
        return []
    steps = trace.steps()
    points = cm.sustain_points(config, trace, cm.series_every(steps, norms[:, -1]))
    sparse = {i for i in idx if "embedding" in cm.kind(model, i)}
    with np.errstate(invalid="ignore", divide="ignore"):
        rms = norms / np.sqrt(numel)
        ratio = norms / norms[:, -1:]
    first_step: dict[int, int] = {}
    for col, i in enumerate(idx):  # rule 1: per-layer RMS gradient (SageMaker)
        if i in sparse:
            continue
        # an exactly zero gradient is no gradient path on that batch (every unit before it dead for it, a
        # saturated output the loss clips; common with batches of one sample), not a vanishing one
        measured = np.isfinite(rms[:, col]) & (rms[:, col] > 0)
        cond = cm.as_cond(rms[:, col] < config.vanishing_grad_abs, measured)  # masks the unmeasured rows
        step = cm.first_sustained(steps, cond, points, config.tensor_sustain_frac)
        if step is not None:
            first_step[i] = step
    first_step = {i: s for i, s in first_step.items()  # vanishing fades towards the input: all before it
                  if all(j in first_step or j in sparse for j in idx if j < i)}
    if idx[-1] in first_step:
        # the output layer's own gradient is tiny: the loss gives none (converged, or a saturated output
        # clipped by the loss), nothing vanished along the depth; the fading rule below still applies
        first_step.clear()
    by_abs = set(first_step)
    rule2 = None
    if len(idx) >= 2:  # rule 2: fading along the depth, the first third against the last (AUTOTRAINER)
        third = max(1, len(idx) // 3)
        with np.errstate(invalid="ignore", divide="ignore"):
            fade = np.median(norms[:, :third], axis=1) / np.median(norms[:, -third:], axis=1)
        measured = np.isfinite(fade) & (fade > 0) & np.isfinite(norms[:, 0])  # exact zeros: as above
        small = (fade < config.vanishing_grad_ratio) & (norms[:, 0] < config.vanishing_first_norm)
        rule2 = cm.first_sustained(steps, cm.as_cond(small, measured), points, config.tensor_sustain_frac)
        if rule2 is not None:  # the measured steps only
            med = np.nanmedian(ratio[measured][-points:], axis=0)
            limit = config.vanishing_grad_ratio
            start = next((col for col in range(len(idx) - 1, -1, -1) if med[col] < limit), 0)
            first_step.setdefault(idx[start], rule2)
    dense = [col for col, i in enumerate(idx) if i not in sparse]
    chain = None if first_step else fading_chain(norms[:, dense], steps, points, config)
    if chain is not None:  # rule 3: a gradient fading layer by layer (``gradient_chain``)
        first_step[idx[dense[0]]] = chain
    if not first_step:
        return []
    top = max(first_step)  # first layer in backward order
    col = idx.index(top)
    rows = np.nonzero(np.isfinite(norms[:, col]))[0]
    tail = rows[-points:]
    ev = {
        "rms_grad": _median(rms[tail, col]),
        "grad_norm": _median(norms[tail, col]),
        "ratio_to_last_layer": _median(ratio[tail, col]),
        "ratio_first_last": _median(ratio[tail, 0]),
        "layers": cm.names(model, sorted(first_step)),
        "rule": "abs" if top in by_abs else "chain" if chain is not None else "ratio",
    }
    lname = cm.name(model, top)
    return [
        cm.finding(
            Symptom.VANISHING_GRADIENT,
            Phase.BACKWARD,
            model,
            trace,
            top,
            first_step[top],
            f"the gradient of layer {lname} has vanished (RMS {cm.fmt(ev['rms_grad'])}, "
            f"{cm.fmt(ev['ratio_to_last_layer'])}x the last layer's norm)",
            ev,
            vanishing_causes(trace, model, config, top),
        ).with_severity(Severity.FAULT if _loss_not_improving(trace.loss()) else Severity.WARNING)
    ]


def _median(values: np.ndarray) -> float:
    """Median of the finite values (NaN, without a warning, when there is none)."""
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")
