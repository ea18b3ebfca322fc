"""unconverged_at_end: the run ended while its loss was still falling at a steady pace (a warning).

A run stopped before it converged is the most common way a program "learns far too slowly": too few epochs,
or steps too small for the budget. Nothing is broken, and only the user knows the budget, so this is never a
fault (the verdict does not change); but the user is told that the run had not finished learning, and what
would take it further. Judged once, at the end of a run that ended on its own (``Trace.completed``).

The measure is scale-free: of all the loss had gained since its start, the share gained in the last quarter
of the run. For a loss that decays towards any floor as ``exp(-t / tau)``, that share is about 0.20 when the
time constant ``tau`` equals the run's length, more when it is longer, and near 0 for a run that converged
(a linear fall gives 0.29). So the default ``unconverged_late_share`` of 0.2 reads: "at its own pace, the
run covered at most about two thirds of its way down".
"""

from __future__ import annotations

import math

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import fixes
from deeplocalize.config import Config
from deeplocalize.detectors import register
from deeplocalize.detectors._curve import (
    initial_level,
    last_loss_nonfinite,
    learned_since_start,
    median_se,
    noise_sd,
    run_curve,
)
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Phase, Severity, Symptom

_QUARTERS = 4


@register("unconverged_at_end", "check", reads_curve=True)
def unconverged_at_end(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """At the end of a run that learned: the run's last quarter gained at least ``unconverged_late_share`` of
    everything the loss gained since its start, significantly (beyond the mini-batch noise)."""
    if not trace.completed or last_loss_nonfinite(trace) or not learned_since_start(trace):
        return []
    curve = run_curve(trace)
    steps, loss = curve.steps, curve.values
    if len(curve) < config.unconverged_min_points:
        return []
    first, last = float(steps[0]), float(steps[-1])
    edges = first + (last - first) * np.arange(1, _QUARTERS) / _QUARTERS
    third = loss[(steps >= edges[-2]) & (steps < edges[-1])]
    fourth = loss[steps >= edges[-1]]
    initial = initial_level(trace)
    if initial is None or len(third) < 2 or len(fourth) < 2:
        return []
    before, final = float(np.median(third)), float(np.median(fourth))
    gained, late = initial - final, before - final
    if gained <= 0 or not math.isfinite(gained):
        return []
    se = median_se(noise_sd(fourth), len(third), len(fourth))
    share = late / gained
    if share < config.unconverged_late_share or late <= config.loss_noise_z * se:
        return []
    msg = (f"the loss was still falling when training ended: {share:.0%} of all it gained since the start "
           f"came in the last quarter of the run ({initial:.4g} -> {before:.4g} -> {final:.4g}); it had not "
           "converged")
    causes = [
        CauseHint(Category.TRAINING, cw.UNCONVERGED_TRAINING,
                  "train longer (more epochs or steps): at its pace at the end, the loss would keep falling"),
        CauseHint(Category.LEARNING_RATE, cw.UNCONVERGED_LR,
                  fixes.lr_fix(model, trace, "low", "the loss fell at a steady, slow pace to the end")),
    ]
    evidence = {"rule": "still_falling", "late_share": share, "initial_level": initial,
                "third_quarter_median": before, "last_quarter_median": final, "noise_se": se,
                "run_first_step": int(first), "run_last_step": int(last),
                "detected_at_step": int(trace.last_step)}
    index = int(np.flatnonzero(steps >= edges[-1])[0])  # where the last quarter, still falling, began
    return [Finding(symptom=Symptom.SLOW_CONVERGENCE, phase=Phase.LOSS, layer=None, step=int(steps[index]),
                    epoch=int(curve.epochs[index]), message=msg, evidence=evidence, causes=causes,
                    severity=Severity.WARNING)]
