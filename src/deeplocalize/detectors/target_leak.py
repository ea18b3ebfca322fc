"""target_leak: a language model that sees the tokens it must predict.

Two structural facts, from the torch probe: how the loss's targets line up with the model's input token
ids on the first batch (``DataInfo.y_from_x``: "next" when each target is the next input token, next-token
prediction; "same" when it is the token at its own position), and, for each self-attention call measured
at a statistics step, whether a query may attend a key at a later position (``sees_later_keys`` in the
layer's facts; ``probes/torch_attention``). Then, for a model whose self-attentions all look one way:

- "next" targets and every self-attention sees later keys: the causal mask is missing, and every position
  reads the token it is scored on (the layer: the first attention, or the layer that made its queries and
  keys);
- "same" targets and every self-attention is causal: a causal language model whose labels were not shifted
  learns to copy its input.

A model with both kinds (an encoder-decoder: a bidirectional encoder, a causal decoder) or with no attention
(an RNN) is left alone: a copy task or a sequence autoencoder learns exactly these targets on purpose.

Any model, whatever its attention, is also checked for decoder inputs that hold the targets
(``DataInfo.y_in_input``: a Hugging Face ``decoder_input_ids`` or a Keras ``decoder_inputs`` whose tokens
are the targets at their own positions, not shifted right): the decoder reads each token it is scored on.
(Tokens passed positionally to a model of one's own prove nothing: its ``forward`` may shift them.)

Either is a warning until the leak is seen being used: the median of the last ``leak_min_points`` losses
below ``leak_loss_frac`` of the label prior entropy (the loss of predicting token frequencies), far below
what a model that cannot see its targets reaches early in training ("too good to be true"), or, without
the causal mask, a head that puts ``leak_next_key_weight`` of its attention on the key right after each
query (the token that query is scored on; the layer's ``next_key_weight`` fact); then a fault. A prefix
language model (bidirectional attention over a prefix that is not scored) would look like the first case;
it is left to ``--set leak_loss_frac=0`` to silence.
"""

from __future__ import annotations

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import fixes
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors import register
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Severity, Symptom


@register("target_leak", "check", refreshes=True)
def target_leak(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """A missing causal mask or unshifted labels; a fault once the loss is too good to be true."""
    if config.leak_loss_frac <= 0 or not len(trace) or model.data is None:
        return []
    if model.data.y_in_input is not None:
        return [_judged(_targets_as_input(model.data.y_in_input, trace, model), trace, model, config)]
    alignment = model.data.y_from_x
    if alignment is None:
        return []
    seen = [x for x in sorted(model.layers, key=lambda x: x.index) if "sees_later_keys" in x.extra]
    later = [layer.extra["sees_later_keys"] is True for layer in seen]
    if not seen or (any(later) and not all(later)):
        return []
    if alignment == "same":
        if any(later):
            return []
        message = ("each target is the input token at its own position (the labels were not shifted): "
                   "the model can copy its input instead of predicting the next token")
        causes = [CauseHint(Category.LOSS, cw.TARGET_LEAK_UNSHIFTED, fixes.shift_labels(model, trace, None))]
        finding = cm.finding(Symptom.TARGET_LEAK, Phase.LOSS, model, trace, None, int(trace.steps()[0]),
                             message, {"targets": "same"}, causes)
    else:
        if not all(later):
            return []
        index = seen[0].index
        step = _first_attention_step(trace, index)
        message = (f"the targets are the input tokens shifted by one (next-token prediction), and the "
                   f"self-attention of {cm.name(model, index)} lets each position attend the later ones: "
                   f"no causal mask, so every position sees the token it is scored on")
        ref = cm.ref(model, index)
        causes = [CauseHint(Category.ARCHITECTURE, cw.TARGET_LEAK_CAUSAL_MASK,
                            fixes.causal_mask(model, trace, ref), ref)]
        finding = cm.finding(Symptom.TARGET_LEAK, Phase.FORWARD, model, trace, index, step, message,
                             {"targets": "next", "sees_later_keys": True}, causes)
        reader = max(seen, key=lambda x: x.extra.get("next_key_weight") or 0.0)
        weight = reader.extra.get("next_key_weight")
        if weight is not None and weight >= config.leak_next_key_weight:
            finding.evidence["next_key_weight"] = float(weight)
            finding.message += (f"; a head of {cm.name(model, reader.index)} puts {weight:.0%} of its "
                                "attention on the key right after each query, the token it is scored on")
            return [finding.with_severity(Severity.FAULT)]
    return [_judged(finding, trace, model, config)]


def _targets_as_input(name: str, trace: Trace, model: ModelInfo) -> Finding:
    message = (f"the model's input `{name}` holds the targets at their own positions (not shifted one "
               "position right): each position reads the token it is scored on and can copy it")
    causes = [CauseHint(Category.DATA, cw.TARGET_LEAK_TARGETS_AS_INPUT,
                        fixes.shift_decoder_inputs(model, trace, None)),
              CauseHint(Category.LOSS, cw.TARGET_LEAK_TARGETS_AS_INPUT_LOSS,
                        fixes.shift_labels(model, trace, None))]
    return cm.finding(Symptom.TARGET_LEAK, Phase.DATA, model, trace, None, int(trace.steps()[0]), message,
                      {"targets": "same", "input": name}, causes)


def _first_attention_step(trace: Trace, index: int) -> int:
    steps = trace.steps()
    if trace.has(index, Channel.ATTENTION):
        measured = np.flatnonzero(np.isfinite(trace.matrix(index, Channel.ATTENTION)[:, 0]))
        if measured.size:
            return int(steps[measured[0]])
    return int(steps[0])


def _judged(finding: Finding, trace: Trace, model: ModelInfo, config: Config) -> Finding:
    """A fault when the recent loss is far below the label prior entropy; the numbers go in the evidence."""
    prior = model.data.y_prior_entropy if model.data is not None else None
    losses = trace.loss()
    recent = losses[np.isfinite(losses)][-config.leak_min_points:]
    if prior is None or prior <= 0 or len(recent) < config.leak_min_points:
        return finding.with_severity(Severity.WARNING)
    level = float(np.median(recent))
    finding.evidence.update({"recent_loss": level, "label_prior_entropy": float(prior)})
    if level >= config.leak_loss_frac * prior:
        return finding.with_severity(Severity.WARNING)
    finding.message += (f"; the loss is {level:.3g}, far below the {prior:.3g} of predicting token "
                        "frequencies: too good to be true")
    return finding.with_severity(Severity.FAULT)
