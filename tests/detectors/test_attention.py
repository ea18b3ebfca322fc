"""attention_collapse on hand-built traces: most heads collapsed at the last statistics steps name the layer
from the first of them; a minority, a short stretch or a recovery are no finding."""

from __future__ import annotations

import numpy as np

from deeplocalize import summary
from deeplocalize.config import Config
from deeplocalize.detectors.attention import attention_collapse
from deeplocalize.model import LayerInfo, ModelInfo
from deeplocalize.severity import base_severity
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Channel, Severity, Symptom

CFG = Config()


def _model(kind: str = "MultiheadAttention") -> ModelInfo:
    layers = [LayerInfo(0, "emb", "Embedding"), LayerInfo(1, "blocks.0.attn", kind, params=10)]
    return ModelInfo(framework="torch", layers=layers)


def _trace(entropies: list[list[float]]) -> Trace:
    """Statistics steps every 20 steps; each entry: the per-head normalized entropies at that step."""
    out = Trace()
    for k, heads in enumerate(entropies):
        rec = StepRecord(step=1 + 20 * k, loss=1.0)
        rec.stats[(1, Channel.ATTENTION)] = summary.summarize(
            np.asarray(heads), saturation=(CFG.attention_collapse_entropy, np.inf))
        out.append(rec)
    return out


def test_most_heads_collapsed_at_the_last_points_name_the_layer_from_the_first_of_them() -> None:
    healthy, collapsed = [0.9, 0.8, 0.85, 0.7], [0.01, 0.02, 0.03, 0.6]
    found = attention_collapse(_trace([healthy, healthy, collapsed, collapsed, collapsed]), _model(), CFG)
    assert len(found) == 1 and found[0].symptom == Symptom.ATTENTION_COLLAPSE
    assert found[0].layer is not None and found[0].layer.name == "blocks.0.attn" and found[0].step == 41
    assert found[0].evidence["collapsed_heads"] == 3 and found[0].evidence["heads"] == 4
    assert "the attention of `blocks.0.attn`" in found[0].message and "3 of its 4 heads" in found[0].message
    assert base_severity(found[0]) == Severity.WARNING  # a fault only with the failure it explains


def test_a_projection_layer_is_named_as_the_source_of_the_attention() -> None:
    collapsed = [0.01, 0.01]
    found = attention_collapse(_trace([collapsed] * 3), _model("Linear"), CFG)
    assert "the attention computed from the output of `blocks.0.attn`" in found[0].message


def test_a_minority_of_sharp_heads_a_short_stretch_or_a_recovery_is_no_finding() -> None:
    sharp_minority = [0.01, 0.02, 0.8, 0.9, 0.7]  # 2 of 5 heads: previous-token heads are normal
    assert attention_collapse(_trace([sharp_minority] * 5), _model(), CFG) == []
    collapsed, healthy = [0.01] * 4, [0.8] * 4
    assert attention_collapse(_trace([healthy, collapsed, collapsed]), _model(), CFG) == []  # 2 points
    assert attention_collapse(_trace([collapsed, collapsed, collapsed, healthy]), _model(), CFG) == []
