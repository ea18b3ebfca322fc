"""blow_up: the loss blew up far above where it started and never came back below it.

One step's loss, within the first ``spike_min_history`` steps, at least ``diverging_loss_growth`` times the
first loss (measured before any update: a healthy run's loss never grows that much), then, over the
``spike_recover_steps`` steps or more that follow, a loss that never gets back meaningfully below that first
loss (the median of the later half of them above ``1 - short_max_rel_decrease`` of it): the updates wrecked
the model (the weights were thrown far off, dead units or saturated outputs followed) and nothing was
learned since. The classic sign of a learning rate far too high that does not end in NaN (Adam at 0.1
moves every weight by 0.1 a step). It judges the first steps, which the loss-spike rule leaves out (it
needs ``spike_min_history`` losses before a spike). A run that blows up and then learns below its start is
left alone, and so is a model whose loss is not meant to go down (an adversarial or policy loss: the
monitor runs no curve rule for it), and one whose batches hold fewer than ``curve_min_batch`` samples (its
first loss is one noisy draw, not a level).

Judged from the raw per-step losses, so that a short run (fewer than ``curve_min_steps``) is judged too:
provisional (a warning) while the run goes on before ``provisional_steps``; a fault once it ended there.
"""

from __future__ import annotations

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import fixes
from deeplocalize.config import Config
from deeplocalize.detectors import register
from deeplocalize.detectors._curve import last_loss_nonfinite, provisional
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Phase, Symptom


@register("blow_up", "check", reads_curve=True)
def blow_up(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """A loss blown up ``diverging_loss_growth``-fold over its first value that never came back below it."""
    first = trace.first
    if first is None or first.loss is None or not np.isfinite(first.loss) or first.loss <= 0:
        return []
    if last_loss_nonfinite(trace) or (model.batch_size or config.curve_min_batch) < config.curve_min_batch:
        return []
    losses, steps, epochs = trace.loss(), trace.steps(), trace.epochs()
    ok = np.isfinite(losses)
    values, at, epoch_at = losses[ok], steps[ok], epochs[ok]
    if values.size < 2:
        return []
    early = int(np.searchsorted(at, int(first.step) + config.spike_min_history))
    if early == 0:
        return []
    peak = int(np.argmax(values[:early]))
    start = float(first.loss)
    if values[peak] < config.diverging_loss_growth * start:
        return []
    after = values[peak + 1:]
    if after.size < config.spike_recover_steps:
        return []
    settled = float(np.median(after[after.size // 2:]))
    if settled < (1.0 - config.short_max_rel_decrease) * start:
        return []  # it blew up, then learned below where it started
    message = (f"the loss blew up from {start:.4g} to {float(values[peak]):.4g} at step {int(at[peak])} "
               f"({float(values[peak]) / start:.3g}x) and never came back below where it started (median "
               f"{settled:.4g} over the last {after.size - after.size // 2} steps): the updates threw the "
               "weights off and nothing was learned since")
    causes = [
        CauseHint(Category.LEARNING_RATE, cw.BLOW_UP_LR,
                  fixes.lr_fix(model, trace, "high", "the loss blew up after the first updates")),
        CauseHint(Category.OPTIMIZER, cw.BLOW_UP_OPTIMIZER, fixes.clip_gradients(model, trace, None)),
    ]
    evidence = {"first_loss": start, "peak_loss": float(values[peak]), "peak_step": int(at[peak]),
                "blow_up": float(values[peak]) / start, "settled_loss": settled,
                "steps_after": int(after.size)}
    # (the update phase: the updates made the blow-up; and a key of its own beside the curve rules' finding)
    found = Finding(symptom=Symptom.LOSS_NOT_DECREASING, phase=Phase.UPDATE, layer=None, step=int(at[peak]),
                    epoch=int(epoch_at[peak]), message=message, evidence=evidence, causes=causes)
    return [provisional(found, trace, config)]
