"""The pre-flight detector: runs once at step 1, from the model facts and the first batch.

Output activation vs loss vs labels (``preflight_output``), input scale (``preflight_data``),
and the first loss against -log(1/K) for K classes (TheDeepChecker): a first loss far above it is
poor_initialization, or evidence for an activation-loss mismatch already found.
"""

from __future__ import annotations

import math

from deeplocalize import fixes
from deeplocalize.config import Config
from deeplocalize.detectors import register
from deeplocalize.detectors._facts import loss_family, n_classes, output_layer
from deeplocalize.detectors.preflight_data import check_input_scale, check_target_scale
from deeplocalize.detectors.preflight_output import check_output
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Phase, Symptom


@register("preflight", "first")
def preflight(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """Every pre-flight check; each finding has step 1 (the first step) and phase static, data or loss."""
    output = check_output(model)
    data = check_input_scale(trace, model, config)
    if not output:
        data += check_target_scale(trace, model, config)
    return output + data + check_initial_loss(trace, model, config, output, data)


def expected_initial_loss(model: ModelInfo) -> float | None:
    """-log(1/K) for a classification loss over K classes (log 2 per output for binary cross-entropy)."""
    if loss_family(model) not in ("ce", "nll", "bce"):
        return None
    k = n_classes(model)
    return math.log(k) if k else None


def check_initial_loss(trace: Trace, model: ModelInfo, config: Config, output: list[Finding],
                       data: list[Finding]) -> list[Finding]:
    """A first loss far above -log(1/K): poor_initialization, unless an output mismatch explains it."""
    first = trace.first
    expected = expected_initial_loss(model)
    if first is None or first.loss is None or not math.isfinite(first.loss) or expected is None:
        return []
    loss = float(first.loss)
    limit = max(config.init_loss_ratio * expected, expected + config.init_loss_margin)
    if loss <= limit:
        return []
    evidence = {"initial_loss": loss, "expected_initial_loss": expected, "n_classes": n_classes(model)}
    if output:
        for finding in output:
            finding.evidence.update(evidence)
        return []
    out = output_layer(model)
    raw_input = any(f.symptom == Symptom.UNNORMALIZED_INPUT for f in data)  # explains large logits too
    causes = [CauseHint(Category.INITIALIZATION, 0.35 if raw_input else 0.7,
                        f"the first loss is {loss:.3g}, expected ~{expected:.3g} = -log(1/K): "
                        + fixes.reinitialize(model, trace, None if out is None else out.ref)
                        + "; scale down the last layer's initial weights",
                        None if out is None else out.ref)]
    if raw_input:
        causes.append(CauseHint(Category.DATA, 0.65, fixes.normalize_inputs(model, trace, None)))
    msg = (f"the first loss {loss:.4g} is far above -log(1/K) = {expected:.3g} for K={n_classes(model)}: "
           "the initial outputs are far too confident")
    return [Finding(symptom=Symptom.POOR_INITIALIZATION, phase=Phase.LOSS, layer=None, step=first.step,
                    epoch=first.epoch, message=msg,
                    evidence={**evidence, "detected_at_step": first.step, "steps_needed": first.step},
                    causes=causes)]
