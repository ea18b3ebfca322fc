"""loss_spike: one step's loss far above the recent window (``deeplocalize.spikes``), told apart as a single
spike the run recovered from, repeated spikes, a spike the loss never came back from (a divergence), or a
jump to a higher level that the loss has been falling from since (new or harder data).

The layer that leads a spike is the one whose gradient norm grew most at that step over its own median
before it: the torch probe's every-step check keeps every layer's gradient norm, so no replay is needed
(under Keras, only a spike on a statistics step names a layer). A warning: one bad batch that the run
recovers from hurts nothing; it becomes part of a fault when the run diverges or stalls (``severity``).
The finding sums up the whole window, so a later check replaces it (``refreshes``).
"""

from __future__ import annotations

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import fixes
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors import register
from deeplocalize.detectors._curve import initial_level
from deeplocalize.detectors.curves import fell_over
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.spikes import spikes_in
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Symptom


@register("loss_spike", "check", reads_curve=True, refreshes=True)
def loss_spike(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """The first spike in the window, once the steps after it say whether the loss came back."""
    losses = trace.loss()
    hits, limits = spikes_in(losses, config)
    hits = _taking_back(losses, hits, initial_level(trace), config)
    if not hits.size:
        return []
    first = int(hits[0])
    after = losses[first + 1:first + 1 + config.spike_recover_steps]
    broke = bool(np.any(~np.isfinite(after)))
    if len(after) < config.spike_recover_steps and not (broke or trace.completed):
        return []  # too early to tell a spike from a divergence
    finite_after = after[np.isfinite(after)]
    recovered = (not broke and finite_after.size > 0
                 and float(np.median(finite_after)) <= float(limits[first]))
    relearning = not (recovered or broke) and _falling_since(losses, first, config)
    episodes = _episodes(hits)
    steps = trace.steps()
    step = int(steps[first])
    layer, growth = _leading_layer(trace, first, config)
    before = float(np.nanmedian(losses[max(0, first - config.spike_window):first]))
    where = f", led by {cm.name(model, layer)} (gradient norm {growth:.3g}x its median before)" if (
        layer is not None) else ""
    if relearning:
        kind = ("the loss did not come back to its level before it, but has been falling since: new or "
                "harder data, or a restarted schedule?")
    elif not recovered:
        kind = "the loss did not come back after it: the run diverged from this spike"
    elif len(episodes) >= config.spike_repeated:
        spike_steps = ", ".join(str(int(steps[i])) for i in episodes[:6])
        kind = f"repeated: {len(episodes)} spikes in the last {len(losses)} steps (at steps {spike_steps})"
    else:
        kind = "the loss came back afterwards (one bad batch?)"
    message = (f"the loss spiked at step {step}: {float(losses[first]):.4g} against a median of "
               f"{before:.4g} before it (above {float(limits[first]):.4g}: {config.spike_z:g} sigma over the "
               f"mean of the last {config.spike_window} steps and {config.spike_max_ratio:g}x their "
               f"largest){where}; {kind}")
    evidence = {"loss": float(losses[first]), "median_before": before, "threshold": float(limits[first]),
                "recovered": recovered, "falling_since": relearning, "spikes": len(episodes),
                "spike_steps": [int(steps[i]) for i in episodes], "layer_growth": growth}
    phase = Phase.LOSS if layer is None else Phase.BACKWARD
    return [cm.finding(Symptom.LOSS_SPIKE, phase, model, trace, layer, step, message, evidence,
                       _causes(model, trace, layer, recovered or relearning,
                               len(episodes) >= config.spike_repeated))]


def _falling_since(losses: np.ndarray, first: int, config: Config) -> bool:
    """The loss fell significantly and meaningfully over the (at least half ``curve_min_steps``) steps after
    the spike at ``first``: the run is learning again from a higher level, not diverging."""
    after = losses[first + 1:]
    return fell_over(after[np.isfinite(after)], config)


def _taking_back(losses: np.ndarray, hits: np.ndarray, initial: float | None, config: Config) -> np.ndarray:
    """The spikes that take back at least ``spike_min_undo_frac`` of what the loss had gained from its
    initial level to the median before them (all of them where it had gained nothing)."""
    keep = []
    for i in hits.tolist():
        before = losses[max(0, i - config.spike_window):i]
        before = before[np.isfinite(before)]
        base = float(np.median(before)) if before.size else float("nan")
        gained = initial - base if initial is not None and np.isfinite(base) else float("nan")
        if not gained > 0 or losses[i] - base >= config.spike_min_undo_frac * gained:
            keep.append(i)
    return np.array(keep, dtype=np.intp)


def _episodes(hits: np.ndarray) -> list[int]:
    """The first position of each run of consecutive spike positions."""
    return [int(h) for k, h in enumerate(hits) if k == 0 or hits[k - 1] != h - 1]


def _leading_layer(trace: Trace, position: int, config: Config) -> tuple[int | None, float | None]:
    """The layer whose gradient norm (else output norm) at ``position`` grew most over its median over the
    window before it, with that growth; (None, None) when none grew by ``spike_layer_growth``."""
    best: tuple[float, int] | None = None
    for channel in (Channel.WEIGHT_GRAD, Channel.OUTPUT):
        for index in cm.indices(trace, channel):
            norms = trace.series(index, channel, "norm")
            now = norms[position]
            earlier = norms[max(0, position - config.spike_window):position]
            earlier = earlier[np.isfinite(earlier)]
            if not np.isfinite(now) or earlier.size == 0:
                continue
            base = float(np.median(earlier))
            if base > 0:
                growth = float(now) / base
                if best is None or growth > best[0]:
                    best = (growth, index)
        if best is not None:
            break
    if best is None or best[0] < config.spike_layer_growth:
        return None, None
    return best[1], best[0]


def _causes(model: ModelInfo, trace: Trace, layer: int | None, recovered: bool,
            repeated: bool) -> list[CauseHint]:
    ref = cm.ref(model, layer)
    persistent = repeated or not recovered
    clip = CauseHint(Category.OPTIMIZER, cw.SPIKE_CLIP_REPEATED if persistent else cw.SPIKE_CLIP_ONCE,
                     fixes.clip_gradients(model, trace, ref), ref)
    batch = CauseHint(Category.DATA, cw.SPIKE_BATCH_REPEATED if persistent else cw.SPIKE_BATCH_ONCE,
                      fixes.inspect_batch(model, trace, ref))
    lr = CauseHint(Category.LEARNING_RATE, cw.SPIKE_LR_REPEATED if persistent else cw.SPIKE_LR_ONCE,
                   fixes.lr_fix(model, trace, "high", "the loss spikes") + ", or warm it up over the first "
                   "steps")
    return sorted([clip, batch, lr], key=lambda c: -c.weight)
