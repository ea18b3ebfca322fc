"""gradients_not_reset: reported from the probe's fact, at the step it began, never for a Keras model."""

from __future__ import annotations

import dataclasses

from builders import layer, model, trace_of

from deeplocalize.config import Config
from deeplocalize.detectors.gradient_reset import gradients_not_reset
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Category, Phase, Severity, Symptom

TRACE = trace_of([StepRecord(step=s, loss=1.0) for s in range(1, 21)])
INFO = model([layer(0, "fc0", "Linear", "linear", 16, 144), layer(1, "out", "Linear", "linear", 4, 68)])


def test_the_fact_is_a_training_fault_from_the_step_it_began() -> None:
    info = dataclasses.replace(INFO, extra={**INFO.extra, "grads_not_reset_from": 3})
    found = gradients_not_reset(TRACE, info, Config())
    assert [(f.symptom, f.phase, f.layer, f.step, f.severity) for f in found] == [
        (Symptom.EXPLODING_GRADIENT, Phase.BACKWARD, None, 3, Severity.FAULT)]
    assert found[0].causes[0].category == Category.TRAINING and "zero_grad()" in found[0].causes[0].fix


def test_no_fact_or_no_step_is_no_finding() -> None:
    trace = TRACE
    assert gradients_not_reset(trace, INFO, Config()) == []
    fact = dataclasses.replace(INFO, extra={"grads_not_reset_from": 1})
    assert gradients_not_reset(trace_of([]), fact, Config()) == []


def test_a_keras_custom_train_step_gets_the_keras_fix() -> None:
    """Keras's own ``train_step`` resets its gradients; the fact, when a custom one did not, names
    ``self.zero_grad()`` (not the optimizer's, which a Keras optimizer does not have)."""
    keras = dataclasses.replace(INFO, framework="keras", extra={"grads_not_reset_from": 1})
    found = gradients_not_reset(TRACE, keras, Config())
    assert len(found) == 1 and "self.zero_grad()" in found[0].causes[0].fix
