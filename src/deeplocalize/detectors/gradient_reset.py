"""gradients_not_reset: a training loop that never resets its gradients (no ``zero_grad()``), seen directly.

The probe watches one gradient of the model from each step's check to the next backward
(``probes/torch_grad_reset``): when it was never set to None, replaced or zeroed over several steps in a
row, every backward adds to the sum of all the gradients before it, and each update follows that sum. This
is a definite defect of the loop, a fault from the step it began, whatever the loss does so far (gradient
descent on a running sum oscillates, or the gradients grow: ``exploding_gradient`` infers the same bug from
that growth, when it shows). Keras's own ``train_step`` resets its gradients; a custom one on the torch
backend that calls ``loss.backward()`` may not (``probes/keras_torch.KerasGradReset``).
"""

from __future__ import annotations

from deeplocalize import causes as cw
from deeplocalize import fixes
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors import register
from deeplocalize.diagnosis import Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Phase, Severity, Symptom


@register("gradients_not_reset", "check")
def gradients_not_reset(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """The model fact ``grads_not_reset_from`` (the step from which its gradients were never reset)."""
    start = model.extra.get("grads_not_reset_from")
    if start is None or len(trace) == 0:
        return []
    fix = fixes.zero_grad(model, trace, None) or "reset the gradients once per step"
    causes = [cm.cause(Category.TRAINING, cw.GRAD_NOT_RESET,
                       f"the gradients are never reset between steps, so each step adds its gradient to all "
                       f"the previous ones: {fix}", model, None)]
    message = (f"the gradients are never reset between steps (from step {int(start)} on, no zero_grad): each "
               "update follows the sum of every gradient so far")
    evidence = {"pattern": "not_reset", "from_step": int(start)}
    found = cm.finding(Symptom.EXPLODING_GRADIENT, Phase.BACKWARD, model, trace, None, int(start), message,
                       evidence, causes)
    return [found.with_severity(Severity.FAULT)]
