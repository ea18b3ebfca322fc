"""lost_updates and overflow_risk on hand-built traces: bf16 updates rounded away, told from a zero
gradient and from fp32; float16 outputs growing toward 65504."""

from __future__ import annotations

import numpy as np

from deeplocalize import summary
from deeplocalize.config import Config
from deeplocalize.detectors.precision import lost_updates, overflow_risk
from deeplocalize.model import LayerInfo, ModelInfo, OptimizerInfo
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Channel, Symptom

CFG = Config()


def model(dtype: str) -> ModelInfo:
    layer = LayerInfo(0, "fc", "Linear", "linear", units=4, params=20, trainable_params=20)
    layer.extra["param_dtype"] = dtype
    return ModelInfo(framework="torch", layers=[layer], optimizer=OptimizerInfo("sgd", lr=1e-3))


def trace(update_zeros: float, grad_zeros: float, points: int = 4) -> Trace:
    """Statistics steps every 20 steps: an update with ``update_zeros`` of its elements zero, a gradient
    with ``grad_zeros``."""
    out = Trace()
    for k in range(points):
        rec = StepRecord(step=1 + 20 * k, loss=1.0)
        n = 100
        update = np.where(np.arange(n) < update_zeros * n, 0.0, 1e-4)
        grad = np.where(np.arange(n) < grad_zeros * n, 0.0, 0.1)
        rec.stats[(0, Channel.UPDATE)] = summary.summarize(update)
        rec.stats[(0, Channel.WEIGHT_GRAD)] = summary.summarize(grad)
        rec.stats[(0, Channel.WEIGHTS)] = summary.summarize(np.full(n, 1.0))
        out.append(rec)
    return out


def test_most_updates_rounded_away_in_bf16_name_the_layer_and_fp32_master_weights() -> None:
    found = lost_updates(trace(0.9, 0.0), model("bfloat16"), CFG)
    assert len(found) == 1 and found[0].symptom == Symptom.LOST_UPDATES
    assert found[0].layer is not None and found[0].layer.name == "fc" and found[0].step == 21
    assert found[0].evidence["lost_frac"] == 0.9 and found[0].causes[0].category == Category.OPTIMIZER
    assert "fp32 master weights" in found[0].causes[0].fix


def test_zero_gradients_and_fp32_weights_and_a_minority_lost_are_no_finding() -> None:
    assert lost_updates(trace(0.9, 0.85), model("bfloat16"), CFG) == []  # the gradient's own zeros
    assert lost_updates(trace(0.9, 0.0), model("float32"), CFG) == []
    assert lost_updates(trace(0.3, 0.0), model("float16"), CFG) == []
    assert lost_updates(trace(0.9, 0.0, points=2), model("bfloat16"), CFG) == []  # not sustained yet


def output_trace(maxima: list[float]) -> Trace:
    out = Trace()
    for k, top in enumerate(maxima):
        rec = StepRecord(step=1 + 20 * k, loss=1.0)
        rec.stats[(0, Channel.OUTPUT)] = summary.summarize(np.linspace(-top, top, 50))
        out.append(rec)
    return out


def autocast(dtype: str) -> ModelInfo:
    info = model("float32")
    info.extra["autocast"] = dtype
    return info


def test_float16_outputs_growing_near_65504_are_an_overflow_risk_before_they_overflow() -> None:
    found = overflow_risk(output_trace([1000.0, 3000.0, 6000.0]), autocast("float16"), CFG)
    assert len(found) == 1 and found[0].symptom == Symptom.OVERFLOW_RISK
    assert found[0].step == 41 and found[0].layer is not None and found[0].layer.name == "fc"
    assert found[0].severity is None  # the symptom's default: a warning


def test_no_overflow_risk_far_from_the_limit_or_shrinking_or_in_bf16() -> None:
    assert overflow_risk(output_trace([100.0, 300.0]), autocast("float16"), CFG) == []
    assert overflow_risk(output_trace([9000.0, 6000.0]), autocast("float16"), CFG) == []
    assert overflow_risk(output_trace([3000.0, 6000.0]), autocast("bfloat16"), CFG) == []
    assert overflow_risk(output_trace([3000.0, 6000.0]), model("float32"), CFG) == []
    assert overflow_risk(output_trace([3000.0, 6000.0]), model("float16"), CFG) != []  # .half() weights


def test_float8_weights_are_judged_against_their_own_much_smaller_limit() -> None:
    (found,) = overflow_risk(output_trace([20.0, 40.0]), model("float8_e4m3fn"), CFG)  # 448 / 16 = 28
    assert found.evidence["limit"] == 448.0 and "float8_e4m3fn" in found.message
    assert overflow_risk(output_trace([20.0, 40.0]), model("float8_e5m2"), CFG) == []  # limit 57344
