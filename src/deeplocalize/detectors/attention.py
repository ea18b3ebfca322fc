"""attention_collapse: most heads of a layer's attention put almost all their weight on one key.

At statistics steps the torch probe measures each attention call's per-head entropy divided by the log of
the number of keys the query may attend (1: uniform, 0: one key; ``probes/torch_attention``) under the
layer that runs it (``nn.MultiheadAttention``) or, for an attention module without weights of its own
(nanoGPT's, Hugging Face's), under the layer whose output made its queries and keys; and the share of heads
at or below ``attention_collapse_entropy``. A layer whose share is at least ``attention_collapse_heads`` at
the last ``attention_collapse_points`` statistics steps is reported from the first of them. Entropy
collapse goes with unstable training (Zhai et al., "Stabilizing Transformer Training by Preventing Attention
Entropy Collapse", ICML 2023): a warning, and a fault with the stall or divergence it explains
(``severity``).
"""

from __future__ import annotations

import numpy as np

from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors import register
from deeplocalize.diagnosis import Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Channel, Phase, Symptom


@register("attention_collapse", "check")
def attention_collapse(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """The first layer (forward order) whose attention heads have mostly collapsed onto single keys."""
    steps = trace.steps()
    for index in cm.indices(trace, Channel.ATTENTION):
        matrix = trace.matrix(index, Channel.ATTENTION)
        share, entropy = matrix[:, sm.SAT_FRAC], matrix[:, sm.MEAN]
        measured = np.isfinite(share)
        cond = cm.as_cond(share >= config.attention_collapse_heads, measured)
        first = cm.first_sustained(steps, cond, config.attention_collapse_points, 1.0)
        if first is None:
            continue
        last = int(np.flatnonzero(measured)[-1])
        heads = int(matrix[last, sm.NUMEL])
        collapsed = round(float(share[last]) * heads)
        mean = cm.fmt(float(entropy[last]))
        message = (f"{_whose(model, index)}: {collapsed} of its {heads} heads put almost all their weight on "
                   f"one key (attention entropy {mean} on average, where 1 is uniform attention and 0 one "
                   f"key; a head at or below {config.attention_collapse_entropy:g} has collapsed)")
        evidence = {"collapsed_heads": collapsed, "heads": heads, "mean_entropy": float(entropy[last]),
                    "min_entropy": float(matrix[last, sm.MIN])}
        return [cm.finding(Symptom.ATTENTION_COLLAPSE, Phase.FORWARD, model, trace, index, first, message,
                           evidence, [])]
    return []


def _whose(model: ModelInfo, index: int) -> str:
    """'the attention of X' for an attention layer, else the attention fed by X's output."""
    layer = model.layer(index)
    if layer is not None and "attention" in layer.type.lower():
        return f"the attention of {cm.name(model, index)} has collapsed"
    return f"the attention computed from the output of {cm.name(model, index)} has collapsed"
