"""Keras' built-in callbacks that DeepLocalize (2021) was compared with, as replay rules over the loss.

- ``TerminateOnNaN``: after every batch, stop if the logged loss is NaN or Inf (Keras 3 logs the running
  mean of the epoch's batch losses, which is non-finite as soon as one batch loss is).
- ``EarlyStopping(monitor="loss", patience=1)``: at each epoch end, ``wait += 1``; if the epoch's loss is
  below the best so far (the first epoch always is) it becomes the best and ``wait = 0``; otherwise, if
  ``wait >= 1`` and the epoch is not the first, training stops. A NaN loss is never an improvement.
Both are pure loss rules: they name no layer and no cause. For torch programs they are the torch
equivalent: the same rules over the captured loss.
"""

from __future__ import annotations

import math
from functools import partial

from benchmarks.baselines.common import epoch_loss, finding, just_closed
from deeplocalize.config import Config
from deeplocalize.detectors import Detector
from deeplocalize.diagnosis import Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Phase, Symptom


def terminate_on_nan(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """Fires on the first batch whose loss is NaN or +/-Inf."""
    record = trace.last_record
    if record is None or record.loss is None or math.isfinite(record.loss):
        return []
    return [finding(Symptom.NUMERICAL_ERROR, Phase.LOSS, None, record.step,
                    f"TerminateOnNaN: invalid loss {record.loss} at batch {record.step}")]


def early_stopping(trace: Trace, model: ModelInfo, config: Config, final: bool = False) -> list[Finding]:
    """Fires at the first epoch end where Keras' EarlyStopping(monitor="loss", patience=1) stops."""
    epochs = just_closed(trace, model, final)
    if not epochs:
        return []
    best: float | None = None
    wait = 0
    for number, group in enumerate(epochs):
        current = epoch_loss(group)
        if current is None:
            continue
        wait += 1
        if best is None or current < best:  # Keras: monitor_op(current - min_delta, best), min_delta 0
            best, wait = current, 0
            continue
        if wait >= 1 and number > 0:
            last = group[-1]
            return [finding(Symptom.LOSS_NOT_DECREASING, Phase.LOSS, None, last.step,
                            f"EarlyStopping(patience=1): epoch {number + 1} loss {current:.6g} did not "
                            f"improve on {best:.6g}", detected_at=last.step)]
    return []


TERMINATE_ON_NAN = [Detector("terminate_on_nan", terminate_on_nan, "step")]
EARLY_STOPPING = [
    Detector("early_stopping", early_stopping, "step"),
    Detector("early_stopping_final", partial(early_stopping, final=True), "check"),
]
KERAS_BUILTINS = TERMINATE_ON_NAN + EARLY_STOPPING
