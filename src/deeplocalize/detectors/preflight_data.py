"""Pre-flight checks of the input data (no registration here; ``preflight`` registers the detector).

unnormalized_input: values far outside [-10, 10], or feature scales that differ by orders of magnitude,
unless the network normalizes its own input (a first Embedding, normalization or rescaling layer); and, when
it does, a raw input that bypasses the normalizer (a skip path or a concatenation of the raw input) to reach
a layer with weights.
output_out_of_range (targets): regression targets far from unit scale that the first outputs cannot reach.
(NaN/Inf in the data is the numerical detector's, every step.)
"""

from __future__ import annotations

import math
import re

from deeplocalize import causes as cw
from deeplocalize import summary
from deeplocalize.config import Config
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.fixes import normalize_inputs
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Severity, Symptom

#: Layer types that take raw values on purpose (token ids, categories) or normalize the input themselves.
_SELF_NORMALIZING = re.compile(r"embedding|norm|rescal|lookup|hashing|vectoriz|discretiz|categor", re.I)
#: A layer past the normalizer whose outputs reach this share of the raw input's peak carries raw values.
#: Own choice: a normalized path stays within a few units, far below the input_abs_max of a raw input.
_BYPASS_SHARE = 0.5


def _input_taken_as_is(model: ModelInfo) -> bool:
    """The raw input is not a magnitude a layer multiplies: integer inputs (token ids, indices), or the
    first layer that has weights (after input and reshaping layers) is an embedding or normalizes it."""
    if model.data is not None and model.data.x_is_float is False:
        return True
    for layer in sorted(model.layers, key=lambda item: item.index):
        if _SELF_NORMALIZING.search(layer.type):
            return True
        if layer.params > 0:
            return False
    return False


def _input_range(trace: Trace, model: ModelInfo) -> tuple[float | None, float | None]:
    """(min, max) of the first batch: from the model facts, else the first record's data summary."""
    data = model.data
    if data is not None and data.x_min is not None and data.x_max is not None:
        return data.x_min, data.x_max
    first = trace.first
    if first is not None and first.data is not None and not math.isnan(first.data[summary.MIN]):
        return float(first.data[summary.MIN]), float(first.data[summary.MAX])
    return None, None


def _step1(evidence: dict) -> dict:
    return {**evidence, "detected_at_step": 1, "steps_needed": 1}


def check_input_scale(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """unnormalized_input from |x| and the per-feature std ratio of the first batch."""
    if _input_taken_as_is(model):
        return []
    x_min, x_max = _input_range(trace, model)
    ratio = model.data.x_feature_scale_ratio if model.data is not None else None
    continuous = model.data.x_continuous_scale_ratio if model.data is not None else None
    if x_min is None or x_max is None:
        return []
    peak = max(abs(x_min), abs(x_max))
    reasons = []
    if peak > config.input_abs_max:
        reasons.append(f"values reach {peak:.4g}, far outside [-10, 10]")
    if ratio is not None and (ratio > config.input_scale_ratio
                              or (ratio > config.input_scale_ratio_soft and peak > config.input_abs_soft)):
        reasons.append(f"feature scales differ {ratio:.3g}x (~{math.log10(ratio):.0f} orders of magnitude)")
    elif continuous is not None and continuous > config.input_scale_ratio_soft:
        reasons.append(f"the continuous features' scales differ {continuous:.3g}x (one mean and deviation "
                       "for every column squeezes most of them to a sliver)")
    if not reasons:
        return []
    msg = f"the input is not normalized: {'; '.join(reasons)} (first batch x in [{x_min:.4g}, {x_max:.4g}])"
    hint = CauseHint(Category.DATA, cw.INPUT_NOT_NORMALIZED, normalize_inputs(model, trace, None))
    evidence = {"x_min": x_min, "x_max": x_max, "feature_scale_ratio": ratio,
                "continuous_scale_ratio": continuous}
    return [Finding(symptom=Symptom.UNNORMALIZED_INPUT, phase=Phase.DATA, layer=None, step=1, message=msg,
                    evidence=_step1(evidence), causes=[hint])]


def check_normalizer_bypass(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """The network normalizes its raw input, yet raw-scale values reach a layer with weights past the
    normalizer: a layer (a concatenation, a skip connection) outputs values as large as the raw input.
    Named at that layer, the first in forward order; judged on the first step's forward statistics."""
    rec = trace.first
    layers = sorted(model.layers, key=lambda item: item.index)
    # the layer the raw input meets first (the first with weights or a normalizer) must normalize it
    normalizer = next((x for x in layers if x.params > 0 or _SELF_NORMALIZING.search(x.type)), None)
    if (rec is None or normalizer is None or not _SELF_NORMALIZING.search(normalizer.type)
            or "embedding" in normalizer.type.lower()
            or (model.data is not None and model.data.x_is_float is False)):
        return []
    raw = rec.get(normalizer.index, Channel.INPUT)
    if raw is None or not math.isfinite(float(raw[summary.MAX])):
        return []
    peak = max(abs(float(raw[summary.MIN])), abs(float(raw[summary.MAX])))
    if peak <= config.input_abs_max:
        return []
    for layer in layers:
        out = rec.get(layer.index, Channel.OUTPUT)
        if layer.index <= normalizer.index or out is None or _SELF_NORMALIZING.search(layer.type):
            continue
        reach = max(abs(float(out[summary.MIN])), abs(float(out[summary.MAX])))
        if not reach >= _BYPASS_SHARE * peak:
            continue
        consumer = next((x for x in layers if x.index > layer.index and x.params > 0), None)
        if consumer is None:
            return []
        msg = (f"layer `{layer.name}` ({layer.type}) passes raw-scale values (up to {reach:.4g}) to layer "
               f"`{consumer.name}`, although `{normalizer.name}` normalizes the input: the raw input "
               "bypasses the normalization")
        causes = [CauseHint(Category.ARCHITECTURE, cw.NORMALIZER_BYPASS,
                            f"feed layer `{layer.name}` the output of "
                            f"`{normalizer.name}` instead of the raw input", layer.ref),
                  CauseHint(Category.DATA, cw.NORMALIZER_BYPASS_DATA, normalize_inputs(model, trace, None))]
        evidence = {"raw_peak": peak, "layer_peak": reach, "normalizer": normalizer.name,
                    "consumer": consumer.name}
        return [Finding(symptom=Symptom.UNNORMALIZED_INPUT, phase=Phase.FORWARD, layer=layer.ref, step=1,
                        message=msg, evidence=_step1(evidence), causes=causes)]
    return []


def check_target_scale(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """Regression targets far from unit scale that the initial outputs are nowhere near.

    With a value loss (MSE/MAE/Huber), |y| above ``target_abs_max`` and the first step's model output at
    least ``target_output_gap`` times smaller (RMS) than the targets' magnitude, the network has to grow its
    output by orders of magnitude with steps sized for unit-scale values: the loss barely moves (or, with
    large steps, explodes). Reported as output_out_of_range (the outputs are far from the targets' range), a
    warning: unbounded outputs can still get there (a bias learns the offset), so it is a fault only with a
    failure it explains (a stall, a divergence) in the same run. A bounded output activation that cannot
    produce the targets at all is ``preflight_output``'s fault.
    """
    data, loss = model.data, model.loss
    if data is None or loss is None or loss.expects != "values" or data.y_min is None or data.y_max is None:
        return []
    peak = max(abs(data.y_min), abs(data.y_max))
    if peak <= config.target_abs_max:
        return []
    rec = trace.first
    outputs = [layer for layer in model.layers if rec is not None
               and rec.get(layer.index, Channel.OUTPUT) is not None]
    if not outputs:
        return []
    out = rec.get(max(outputs, key=lambda layer: layer.index).index, Channel.OUTPUT)
    rms = math.sqrt(float(out[summary.STD]) ** 2 + float(out[summary.MEAN]) ** 2)
    if not math.isfinite(rms) or rms * config.target_output_gap > peak:
        return []
    span = f"[{data.y_min:.4g}, {data.y_max:.4g}]"
    msg = (f"the regression targets span {span}, but the initial outputs are ~{rms:.3g} (RMS): "
           f"{peak / max(rms, 1e-12):.3g}x too small to reach them")
    hint = CauseHint(Category.DATA, cw.TARGET_SCALE,
                     f"standardize the regression targets (y in {span}) to mean 0, "
                     "std 1 and invert the scaling on predictions")
    evidence = {"y_min": data.y_min, "y_max": data.y_max, "output_rms": rms}
    return [Finding(symptom=Symptom.OUTPUT_OUT_OF_RANGE, phase=Phase.DATA, layer=None, step=1, message=msg,
                    evidence=_step1(evidence), causes=[hint]).with_severity(Severity.WARNING)]
