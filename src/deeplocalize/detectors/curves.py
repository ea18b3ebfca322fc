"""Training-curve detectors on the loss: loss_not_decreasing, oscillating_loss, slow_convergence (also as
short_training: a run that ends after a handful of steps at chance, and narrow_bottleneck: slow progress
with a single-unit hidden layer).

Each looks at the last ``config.curve_window`` finite losses and compares robust statistics (medians of the
first and last third, noise from step-to-step differences) instead of raw values, so mini-batch noise neither
hides a stuck run nor fakes one. A run that has already learned (its level fell well below the initial level)
and now plateaus is converged, not faulty, unless it sits at the chance level.
"""

from __future__ import annotations

import math

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import fixes
from deeplocalize.config import Config
from deeplocalize.detectors import register
from deeplocalize.detectors._common import update_ratio
from deeplocalize.detectors._curve import (
    Curve,
    Trend,
    block_size,
    initial_level,
    last_loss_nonfinite,
    lr_warming_up,
    near,
    provisional,
    trend,
    window_curve,
)
from deeplocalize.detectors._facts import chance_loss, loss_floor
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Phase, Symptom


def has_learned(level: float, initial: float, config: Config, floor: float = 0.0) -> bool:
    """The level fell below ``loss_learned_ratio`` of the initial level, both measured above ``floor`` (the
    lowest loss reachable, ``_facts.loss_floor``; works for negative losses too)."""
    return initial - level >= (1.0 - config.loss_learned_ratio) * abs(initial - floor)


def _meaningful(t: Trend, config: Config) -> float:
    """The smallest change of the level that matters: ``loss_min_rel_decrease`` of where the trend starts."""
    return config.loss_min_rel_decrease * max(abs(t.first), 1e-12)


def no_meaningful_decrease(t: Trend, config: Config) -> bool:
    """Equivalence test: even the upper bound of the decrease is below a meaningful fraction of the level,
    and the decrease is not significant (a small but steady decrease is slow convergence, not this)."""
    decrease, noise = -t.change, config.loss_noise_z * t.se
    return decrease + noise < _meaningful(t, config) and decrease <= noise


def significant_rise(t: Trend, config: Config) -> bool:
    return t.change - config.loss_noise_z * t.se > _meaningful(t, config)


def falling(t: Trend, config: Config) -> bool:
    """A significant and meaningful decrease (the mirror of ``significant_rise``)."""
    return -t.change - config.loss_noise_z * t.se > _meaningful(t, config)


def _falls_by_a_factor(log_trend: Trend, config: Config) -> bool:
    return -log_trend.change - config.loss_noise_z * log_trend.se > -math.log1p(-config.loss_min_rel_decrease)


def falling_by_a_factor(values: np.ndarray, config: Config) -> bool:
    """The log of the (positive) loss falls significantly, by a meaningful factor: the trend of a loss whose
    noise multiplies (it swings by factors from step to step, and its spikes dwarf any level on the raw
    scale), judged on the scale its noise lives on."""
    return _falls_by_a_factor(trend(np.log(values)), config)


def steps_to_fall_to(curve: Curve, level: float, config: Config) -> float | None:
    """Steps the (positive) loss needs to fall to ``level`` at the pace of its curve, measured on the log
    scale between the medians of its first and last thirds; None unless it falls by a meaningful factor."""
    values = curve.values
    if len(values) < 3 or level <= 0 or not (values > 0).all():
        return None
    t = trend(np.log(values))
    if not _falls_by_a_factor(t, config):
        return None
    k = max(1, len(values) // 3)
    span = max(float(np.median(curve.steps[-k:]) - np.median(curve.steps[:k])), 1.0)
    return max(t.last - math.log(level), 0.0) / (-t.change / span)


def fell_over(values: np.ndarray, config: Config) -> bool:
    """The loss fell significantly and meaningfully over ``values`` (finite, in step order), judged on at
    least half ``curve_min_steps`` of them: learning again after a jump (``_recovering``, ``loss_spike``)."""
    return len(values) >= config.curve_min_steps // 2 and falling(trend(values), config)


def _constant_tail(curve: Curve, config: Config) -> int | None:
    """Index where a run of >= ``loss_constant_steps`` identical trailing losses starts, else None."""
    need = config.loss_constant_steps
    if len(curve) < need:
        return None
    values = curve.values
    last = values[-1]
    same = np.abs(values - last) <= 1e-7 * max(abs(last), 1e-12)
    if not same[-need:].all():
        return None
    start = len(values) - need
    while start > 0 and same[start - 1]:
        start -= 1
    return start


def _stuck_causes(model: ModelInfo, trace: Trace, at_chance: bool) -> list[CauseHint]:
    causes = [
        CauseHint(Category.LEARNING_RATE, cw.LOSS_FLAT_LR,
                  fixes.lr_fix(model, trace, None, "the loss does not move")),
        CauseHint(Category.OPTIMIZER, cw.LOSS_FLAT_OPTIMIZER, fixes.better_optimizer(model, trace, None)),
        CauseHint(Category.INITIALIZATION, cw.LOSS_FLAT_INIT, fixes.reinitialize(model, trace, None)),
    ]
    if at_chance:
        causes.append(CauseHint(Category.DATA, cw.LOSS_FLAT_AT_CHANCE_DATA,
                                fixes.check_labels(model, trace, None)))
    return causes


def _finding(symptom: Symptom, trace: Trace, curve: Curve, index: int, message: str,
             evidence: dict, causes: list[CauseHint]) -> Finding:
    evidence = {**evidence, "window_first_step": int(curve.steps[0]),
                "window_last_step": int(curve.steps[-1]), "steps_needed": int(trace.last_step),
                "detected_at_step": int(trace.last_step)}
    return Finding(symptom=symptom, phase=Phase.LOSS, layer=None, step=int(curve.steps[index]),
                   epoch=int(curve.epochs[index]), message=message, evidence=evidence, causes=causes)


@register("loss_not_decreasing", "check", reads_curve=True)
def loss_not_decreasing(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """No meaningful decrease over the window (or a rise), while the run has not learned or sits at chance."""
    if last_loss_nonfinite(trace):
        return []
    curve = window_curve(trace, config, block=block_size(model, config))
    if len(curve) < 2:
        return []
    initial = initial_level(trace)
    chance, floor = chance_loss(trace, model), loss_floor(model)
    start = _constant_tail(curve, config)
    if start is not None:
        level = float(curve.values[-1])
        at_chance = chance is not None and near(level, chance, config.chance_rel_tol, floor)
        if abs(level) > 1e-8 and (at_chance or initial is None or not has_learned(level, initial, config,
                                                                                  floor)):
            msg = (f"the loss is identical ({level:.4g}) for {len(curve) - start} steps: the model does not "
                   "learn" + (f" (chance level {chance:.4g})" if at_chance and chance is not None else ""))
            return [_finding(Symptom.LOSS_NOT_DECREASING, trace, curve, start, msg,
                             {"loss": level, "constant_steps": len(curve) - start, "chance_level": chance,
                              "at_chance": at_chance}, _stuck_causes(model, trace, at_chance))]
    if len(curve) < config.curve_min_steps or lr_warming_up(trace, config):
        return []
    initial = float(np.median(curve.values[:10])) if initial is None else initial
    # the whole window, then its recent half (a fall, then stuck); none while recovering from a jump
    for part in [] if _recovering(curve, config) else _tails(curve, config):
        found = _stuck(trace, model, config, part, initial, chance, floor)
        if found is not None:
            return [found]
    worse = _worse_than_chance(trace, model, config, curve, chance)
    return [] if worse is None else [worse]


def _worse_than_chance(trace: Trace, model: ModelInfo, config: Config, curve: Curve,
                       chance: float | None) -> Finding | None:
    """The loss went down, yet stays far above what a constant prediction scores (the chance level):
    after ``curve_min_steps`` the model still does worse than ignoring its input. Judged only when the
    trained loss is the loss function's own (``extra["loss_plain"]``: no regularizer or other term added,
    which would lift it above the chance level of the loss function alone). Not while the loss falls fast
    enough to get there within as many steps again as the run has taken (``steps_to_fall_to``)."""
    if chance is None or chance <= 0 or not model.extra.get("loss_plain"):
        return None
    t = trend(curve.values)
    target = config.worse_than_chance_factor * chance
    if t.last <= target:
        return None
    ahead = steps_to_fall_to(curve, target, config)
    if ahead is not None and ahead <= int(curve.steps[-1]):
        return None  # far above chance, but on course to get there in as many steps as it has run
    msg = (f"the loss is still {t.last:.4g} after {int(curve.steps[-1])} steps, {t.last / chance:.3g}x the "
           f"chance level {chance:.4g} (a constant prediction): the model does worse than ignoring its input")
    evidence = {"last_median": t.last, "chance_level": chance, "worse_than_chance": t.last / chance}
    causes = [
        CauseHint(Category.DATA, cw.WORSE_THAN_CHANCE_DATA, fixes.normalize_inputs(model, trace, None)),
        CauseHint(Category.LEARNING_RATE, cw.WORSE_THAN_CHANCE_LR,
                  fixes.lr_fix(model, trace, None, "the loss stays far above the chance level")),
        CauseHint(Category.INITIALIZATION, cw.WORSE_THAN_CHANCE_INIT, fixes.reinitialize(model, trace, None)),
    ]
    return provisional(_finding(Symptom.LOSS_NOT_DECREASING, trace, curve, 0, msg, evidence, causes), trace,
                       config)


def _recovering(curve: Curve, config: Config) -> bool:
    """The window's highest loss came after its start, and the loss has fallen significantly and meaningfully
    since (over at least half ``curve_min_steps`` points): a jump (harder data added, a restart of the
    schedule) that training is recovering from, not a loss that rises or does not decrease. The medians of
    the trend make one spiking step at the peak count for nothing."""
    peak = int(np.argmax(curve.values))
    return peak > 0 and fell_over(curve.values[peak:], config)


def _tails(curve: Curve, config: Config) -> list[Curve]:
    half = len(curve) // 2
    if half < config.curve_min_steps:
        return [curve]
    return [curve, Curve(curve.steps[-half:], curve.epochs[-half:], curve.values[-half:])]


def _stuck(trace: Trace, model: ModelInfo, config: Config, curve: Curve, initial: float,
           chance: float | None, floor: float) -> Finding | None:
    """The flat-or-rising test on one stretch of the curve (``floor``: ``_facts.loss_floor``)."""
    t = trend(curve.values)
    if abs(t.first) < 1e-8 and abs(t.last) < 1e-8:
        return None
    flat, rising = no_meaningful_decrease(t, config), significant_rise(t, config)
    if not (flat or rising):
        return None
    at_chance = chance is not None and near(t.last, chance, config.chance_rel_tol, floor)
    if has_learned(t.last, initial, config, floor) and not at_chance:
        return None  # a converged plateau
    what = "rises" if rising else "does not decrease"
    where = f", at the chance level {chance:.4g}" if at_chance and chance is not None else ""
    msg = (f"the loss {what} over steps {int(curve.steps[0])}–{int(curve.steps[-1])} "
           f"(median {t.first:.4g} -> {t.last:.4g}{where})")
    causes = _stuck_causes(model, trace, at_chance)
    if rising:
        causes[0] = CauseHint(Category.LEARNING_RATE, cw.LOSS_RISING_LR,
                              fixes.lr_fix(model, trace, "high", "the loss rises without NaN"))
    evidence = {"first_median": t.first, "last_median": t.last, "noise_se": t.se, "initial_level": initial,
                "chance_level": chance, "at_chance": at_chance, "rising": rising}
    found = _finding(Symptom.LOSS_NOT_DECREASING, trace, curve, 0, msg, evidence, causes)
    return found if rising else provisional(found, trace, config)


@register("oscillating_loss", "check", reads_curve=True)
def oscillating_loss(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """Large step-to-step swings without a downward trend, with frequent spikes above the initial level."""
    if last_loss_nonfinite(trace):
        return []
    curve = window_curve(trace, config, block=block_size(model, config))
    if len(curve) < config.curve_min_steps or lr_warming_up(trace, config):
        return []
    y = curve.values
    # where the run started, typically: spikes above it are updates undoing the start, while one lucky
    # first batch of a noisy mini-batch loss would make ordinary batch-to-batch noise look like spikes
    initial = initial_level(trace, cap_at_first=False)
    if (y <= 0).any() or initial is None or initial <= 0:
        return []
    swing = float(np.median(np.abs(np.diff(np.log(y)))))
    if swing < config.osc_log_swing:
        return []
    spike_frac = float(np.mean(y > config.osc_spike_ratio * initial))
    t = trend(y)
    if falling(t, config) or falling_by_a_factor(y, config) or spike_frac < config.osc_spike_frac:
        return []
    msg = (f"the loss swings by x{math.exp(swing):.2g} from step to step without a downward trend; "
           f"{spike_frac:.0%} of steps {int(curve.steps[0])}–{int(curve.steps[-1])} are above "
           f"{config.osc_spike_ratio:g}x the initial loss {initial:.4g}")
    batch = f" (now {model.batch_size})" if model.batch_size else ""
    causes = [
        CauseHint(Category.LEARNING_RATE, cw.OSCILLATING_LR,
                  fixes.lr_fix(model, trace, "high", "the loss oscillates")),
        CauseHint(Category.TRAINING, cw.OSCILLATING_BATCH,
                  f"use a larger batch size{batch} to smooth the updates"),
        CauseHint(Category.OPTIMIZER, cw.OSCILLATING_CLIP, fixes.clip_gradients(model, trace, None)),
    ]
    evidence = {"median_log_swing": swing, "spike_fraction": spike_frac, "initial_level": initial,
                "first_median": t.first, "last_median": t.last}
    return [_finding(Symptom.OSCILLATING_LOSS, trace, curve, 0, msg, evidence, causes)]


@register("slow_convergence", "check", reads_curve=True)
def slow_convergence(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """The loss goes down significantly, but after ``slow_min_steps`` by less than a few percent in all."""
    if last_loss_nonfinite(trace):
        return []
    curve = window_curve(trace, config, block=block_size(model, config))
    if len(curve) < config.slow_min_steps or lr_warming_up(trace, config):
        return []
    t = trend(curve.values)
    initial = initial_level(trace)
    if initial is None or abs(initial) < 1e-8:
        return []
    decrease = -t.change
    if decrease <= config.loss_noise_z * t.se or decrease <= 0:
        return []
    if t.last > initial:  # above where it started: a divergence, not slow learning (never "raise the lr")
        return []
    total = (initial - t.last) / abs(initial)
    if total >= config.slow_max_rel_decrease:
        return []
    steps = int(curve.steps[-1])
    msg = (f"the loss decreases only {max(total, 0.0):.1%} in {steps} steps ({initial:.4g} -> {t.last:.4g}): "
           "learning is far too slow")
    ratio = update_ratio(trace, model)
    typical = None if ratio is None else ratio[2]
    paced = typical is not None and typical >= config.lr_update_ratio_healthy
    causes = [  # weights that already move at a healthy pace say the learning rate is not what is too low
        CauseHint(Category.LEARNING_RATE, config.lr_low_contradicted_vote if paced else cw.SLOW_LR,
                  fixes.lr_fix(model, trace, "low", "the loss barely moves")),
        CauseHint(Category.OPTIMIZER, cw.SLOW_OPTIMIZER, fixes.better_optimizer(model, trace, None)),
    ]
    evidence = {"initial_level": initial, "last_median": t.last, "relative_decrease": total,
                "noise_se": t.se, "update_ratio": typical}
    return [provisional(_finding(Symptom.SLOW_CONVERGENCE, trace, curve, 0, msg, evidence, causes), trace,
                        config)]


@register("short_training", "check", reads_curve=True)
def short_training(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """The training ended after a handful of steps with the loss still at chance (too few steps or epochs).

    Only judged once the training loop ended on its own (``trace.completed``, set by ``Monitor.finish``): a
    run stopped early (the policy, ``--max-steps``) or crashed is not told to train longer — its evidence is
    merely short, and its verdict stays "inconclusive".
    """
    if not trace.completed or int(trace.last_step) >= config.min_steps_for_verdict:
        return []
    if last_loss_nonfinite(trace):
        return []
    loss = trace.loss()
    steps = trace.steps()
    ok = np.isfinite(loss)
    if ok.sum() < config.short_min_steps:
        return []
    values, at = loss[ok], steps[ok]
    chance, floor = chance_loss(trace, model), loss_floor(model)
    first, final = float(values[0]), float(values[-1])
    if chance is None or not near(final, chance, config.chance_rel_tol, floor):
        return []
    if first - final > config.short_max_rel_decrease * abs(first - floor):
        return []
    batch = f" of {model.batch_size}" if model.batch_size else ""
    epochs = int(trace.epochs()[-1]) + 1 if len(trace.epochs()) else 1
    span = f" ({epochs} epochs)" if epochs > 1 else ""
    msg = (f"training ended after {len(values)} steps{span} with the loss still at the chance level "
           f"{chance:.4g} ({first:.4g} -> {final:.4g})")
    causes = [CauseHint(Category.TRAINING, cw.SHORT_TRAINING,
                        f"train for many more steps: {len(values)} optimizer steps (batches{batch}) cannot "
                        "fit the data; use more epochs or smaller batches (more steps per epoch)")]
    curve = Curve(at, trace.epochs()[ok], values)
    evidence = {"steps": len(values), "first_loss": first, "last_loss": final, "chance_level": chance}
    return [_finding(Symptom.SLOW_CONVERGENCE, trace, curve, 0, msg, evidence, causes)]


@register("narrow_bottleneck", "check", reads_curve=True)
def narrow_bottleneck(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """Slow progress explained by a hidden layer of width 1 in a network with several outputs.

    After ``slow_min_steps`` the loss is still above ``bottleneck_loss_frac`` of its initial level while a
    hidden Linear/Dense/Conv layer (not the last) has a single unit and the output has at least 3: every
    sample is squeezed through one number (one ReLU unit is also 0 for about half of them). The symptom
    is observed (slow convergence); the structure names the layer.
    """
    if last_loss_nonfinite(trace):
        return []
    kernels = [layer for layer in sorted(model.layers, key=lambda x: x.index)
               if layer.params > 0 and (layer.type or "").lower().startswith(("linear", "dense", "conv"))]
    if len(kernels) < 2 or not kernels[-1].units or kernels[-1].units < 3:
        return []
    narrow = [layer for layer in kernels[:-1] if layer.units == 1]
    if not narrow:
        return []
    curve = window_curve(trace, config, block=block_size(model, config))
    initial = initial_level(trace)
    if len(curve) < config.slow_min_steps or initial is None or initial <= 0 or lr_warming_up(trace, config):
        return []
    t = trend(curve.values)
    if t.last <= config.bottleneck_loss_frac * initial:
        return []
    layer = narrow[0]
    label = f"`{layer.name}`"
    msg = (f"the loss is still {t.last:.4g} after {int(curve.steps[-1])} steps ({t.last / initial:.0%} of "
           f"its initial {initial:.4g}) and layer {label} has a single unit")
    outputs = kernels[-1].units
    causes = [CauseHint(Category.ARCHITECTURE, cw.NARROW_BOTTLENECK,
                        f"layer {label} ({layer.type}) has 1 unit: every sample is squeezed through one "
                        f"number before {outputs} outputs; widen it (e.g. 16-64 units)", layer.ref)]
    evidence = {"initial_level": initial, "last_median": t.last, "units": 1, "output_units": outputs}
    found = _finding(Symptom.SLOW_CONVERGENCE, trace, curve, 0, msg, evidence, causes)
    found.layer = layer.ref
    return [found]
