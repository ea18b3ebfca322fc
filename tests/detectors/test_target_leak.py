"""target_leak on hand-built facts: shifted targets with attention to later keys, unshifted targets; a
warning until the loss is too good to be true, then a fault; nothing without the structural facts."""

from __future__ import annotations

import math

from deeplocalize.config import Config
from deeplocalize.detectors.target_leak import target_leak
from deeplocalize.model import DataInfo, LayerInfo, ModelInfo
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Severity, Symptom

CFG = Config()
PRIOR = math.log(64)


def model(alignment: str | None, sees_later_keys: bool | None) -> ModelInfo:
    emb = LayerInfo(0, "wte", "Embedding", None, units=32, params=2048, trainable_params=2048)
    attn = LayerInfo(1, "h.0.attn.c_attn", "Linear", "linear", units=96, params=3168, trainable_params=3168)
    head = LayerInfo(2, "lm_head", "Linear", "linear", units=64, params=2048, trainable_params=2048)
    if sees_later_keys is not None:
        attn.extra["sees_later_keys"] = sees_later_keys
    data = DataInfo(y_prior_entropy=PRIOR, y_from_x=alignment)
    return ModelInfo(framework="torch", layers=[emb, attn, head], data=data)


def trace(final_loss: float, steps: int = 40) -> Trace:
    out = Trace()
    for step in range(1, steps + 1):  # from the prior down to final_loss
        out.append(StepRecord(step=step, loss=PRIOR + (final_loss - PRIOR) * min(1.0, step / 20)))
    return out


def test_shifted_targets_and_attention_to_later_keys_name_the_attention_and_the_causal_mask() -> None:
    (finding,) = target_leak(trace(0.05), model("next", True), CFG)
    assert finding.symptom == Symptom.TARGET_LEAK and finding.severity == Severity.FAULT
    assert finding.layer is not None and finding.layer.name == "h.0.attn.c_attn"
    assert finding.causes[0].category == Category.ARCHITECTURE and "is_causal=True" in finding.causes[0].fix
    assert "too good to be true" in finding.message


def test_unshifted_targets_are_a_loss_fault_whatever_the_attention() -> None:
    (finding,) = target_leak(trace(0.01), model("same", None), CFG)
    assert finding.severity == Severity.FAULT and finding.layer is None
    assert finding.causes[0].category == Category.LOSS


def test_a_leak_the_loss_does_not_show_yet_is_a_warning() -> None:
    (finding,) = target_leak(trace(2.5), model("next", True), CFG)
    assert finding.severity == Severity.WARNING


def test_a_causal_model_a_classifier_and_the_switch_off_give_nothing() -> None:
    assert target_leak(trace(0.05), model("next", False), CFG) == []  # causal attention: a good model
    assert target_leak(trace(0.05), model("next", None), CFG) == []  # no attention seen (an RNN)
    assert target_leak(trace(0.05), model(None, True), CFG) == []  # targets not aligned with the inputs
    assert target_leak(trace(0.05), model("next", True), Config(leak_loss_frac=0.0)) == []
