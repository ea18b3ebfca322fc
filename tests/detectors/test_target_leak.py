"""target_leak on hand-built facts: shifted targets with attention to later keys, unshifted targets of a
causal model; a warning until the loss is too good to be true, then a fault; nothing without the structural
facts, for a model without attention, or for an encoder-decoder (a copy task learns these targets)."""

from __future__ import annotations

import math

from deeplocalize.config import Config
from deeplocalize.detectors.target_leak import target_leak
from deeplocalize.model import DataInfo, LayerInfo, ModelInfo
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Severity, Symptom

CFG = Config()
PRIOR = math.log(64)


def model(alignment: str | None, *sees_later_keys: bool) -> ModelInfo:
    """An embedding, an attention projection per value of ``sees_later_keys`` (none: no attention), a head."""
    layers = [LayerInfo(0, "wte", "Embedding", None, units=32, params=2048, trainable_params=2048)]
    for k, later in enumerate(sees_later_keys):
        attn = LayerInfo(1 + k, f"h.{k}.attn.c_attn", "Linear", "linear", units=96, params=3168,
                         trainable_params=3168)
        attn.extra["sees_later_keys"] = later
        layers.append(attn)
    layers.append(LayerInfo(len(layers), "lm_head", "Linear", "linear", units=64, params=2048,
                            trainable_params=2048))
    data = DataInfo(y_prior_entropy=PRIOR, y_from_x=alignment)
    return ModelInfo(framework="torch", layers=layers, data=data)


def trace(final_loss: float, steps: int = 40) -> Trace:
    out = Trace()
    for step in range(1, steps + 1):  # from the prior down to final_loss
        out.append(StepRecord(step=step, loss=PRIOR + (final_loss - PRIOR) * min(1.0, step / 20)))
    return out


def test_shifted_targets_and_attention_to_later_keys_name_the_attention_and_the_causal_mask() -> None:
    (finding,) = target_leak(trace(0.05), model("next", True, True), CFG)
    assert finding.symptom == Symptom.TARGET_LEAK and finding.severity == Severity.FAULT
    assert finding.layer is not None and finding.layer.name == "h.0.attn.c_attn"
    assert finding.causes[0].category == Category.ARCHITECTURE and "is_causal=True" in finding.causes[0].fix
    assert "too good to be true" in finding.message


def test_unshifted_targets_of_a_causal_model_are_a_loss_fault() -> None:
    (finding,) = target_leak(trace(0.01), model("same", False, False), CFG)
    assert finding.severity == Severity.FAULT and finding.layer is None
    assert finding.causes[0].category == Category.LOSS


def test_a_leak_the_loss_does_not_show_yet_is_a_warning() -> None:
    (finding,) = target_leak(trace(2.5), model("next", True), CFG)  # one attention layer, bidirectional
    assert finding.severity == Severity.WARNING


def test_a_causal_model_a_classifier_an_encoder_decoder_an_rnn_and_the_switch_off_give_nothing() -> None:
    assert target_leak(trace(0.05), model("next", False), CFG) == []  # causal attention: a good model
    assert target_leak(trace(0.05), model("next"), CFG) == []  # no attention seen (an RNN)
    assert target_leak(trace(0.05), model("same"), CFG) == []  # an RNN sequence autoencoder
    assert target_leak(trace(0.05), model("next", True, False), CFG) == []  # encoder-decoder (a copy task)
    assert target_leak(trace(0.05), model("same", True), CFG) == []  # a bidirectional token autoencoder
    assert target_leak(trace(0.05), model(None, True), CFG) == []  # targets not aligned with the inputs
    assert target_leak(trace(0.05), model("next", True), Config(leak_loss_frac=0.0)) == []


def fed_targets(*sees_later_keys: bool) -> ModelInfo:
    out = model(None, *sees_later_keys)
    out.data.y_in_input = "decoder_input_ids"
    return out


def test_decoder_inputs_holding_the_targets_are_a_data_fault_whatever_the_attention() -> None:
    for later in [(True, False), (), (False,)]:  # an encoder-decoder, an RNN, a causal decoder
        (finding,) = target_leak(trace(0.05), fed_targets(*later), CFG)
        assert finding.severity == Severity.FAULT and finding.layer is None
        assert [c.category for c in finding.causes] == [Category.DATA, Category.LOSS]
        assert "decoder_input_ids" in finding.message
        assert "shifted one position right" in finding.causes[0].fix
        assert finding.evidence["input"] == "decoder_input_ids"


def test_decoder_inputs_holding_the_targets_are_a_warning_while_the_loss_is_believable() -> None:
    (finding,) = target_leak(trace(2.5), fed_targets(True, False), CFG)
    assert finding.severity == Severity.WARNING
    assert target_leak(trace(0.05), fed_targets(True, False), Config(leak_loss_frac=0.0)) == []


def test_a_head_reading_the_token_it_is_scored_on_makes_a_missing_causal_mask_a_fault_at_once() -> None:
    leaky = model("next", True, True)
    leaky.layers[2].extra["next_key_weight"] = 0.8
    (finding,) = target_leak(trace(4.0), leaky, CFG)  # the loss still believable
    assert finding.severity == Severity.FAULT and finding.evidence["next_key_weight"] == 0.8
    assert "h.1.attn.c_attn" in finding.message and "80%" in finding.message
    leaky.layers[2].extra["next_key_weight"] = 0.3  # a head that reads the next token a little: not yet
    (finding,) = target_leak(trace(4.0), leaky, CFG)
    assert finding.severity == Severity.WARNING
