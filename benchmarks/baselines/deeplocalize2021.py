"""The DeepLocalize (ICSE 2021) Keras-callback rules, re-implemented faithfully as replay rules.

Checked after every batch, in this order; the first that fails stops training and reports stage + layer:
1. NaN/Inf anywhere: layer outputs in forward order, then the loss, then gradients in backward order
   (output gradient, then weight gradient, last layer first), then weights.
2. A mean that is exactly 0 in at least half of the iterations so far (layer outputs, output gradients).
3. A value identical over the last 5 batches: the mean of a layer's output, output gradient or weights
   ("no change"); Flatten layers skipped. This is the rule that fires on every softmax output (its mean is
   always 1/K): the original's false alarm, kept on purpose. Likewise the weights of a layer feeding a
   softmax cross-entropy keep an exactly constant mean under SGD (the logits' gradient sums to 0).
4. Loss or accuracy identical over the last 5 batches: "model does not learn" (no layer).
It names a layer and a stage but gives no fix: its answer carries no root-cause category.
"Identical" means equal within float32 resolution, since our summaries are float32 reductions.
"""

from __future__ import annotations

import numpy as np

from benchmarks.baselines.common import finding, has_nonfinite, identical, layers_in_order
from deeplocalize.config import Config
from deeplocalize.detectors import Detector
from deeplocalize.diagnosis import Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Channel, Phase, Symptom

WINDOW = 5
SKIPPED_TYPES = {"flatten"}


def _nonfinite(trace: Trace, model: ModelInfo) -> list[Finding]:
    record = trace.last_record
    if record is None:
        return []
    layers = layers_in_order(trace, model)
    order = [(layer, Channel.OUTPUT) for layer in layers]
    order.append((None, None))  # the loss
    for layer in reversed(layers):
        order += [(layer, Channel.OUTPUT_GRAD), (layer, Channel.WEIGHT_GRAD)]
    order += [(layer, Channel.WEIGHTS) for layer in layers]
    for layer, channel in order:
        if layer is None:
            if record.loss is not None and not np.isfinite(record.loss):
                return [finding(Symptom.NUMERICAL_ERROR, Phase.LOSS, None, record.step,
                                f"DeepLocalize-2021: NaN/Inf loss at batch {record.step}")]
            continue
        if has_nonfinite(record, layer.index, channel):
            return [finding(Symptom.NUMERICAL_ERROR, channel.phase, layer, record.step,
                            f"DeepLocalize-2021: error in {channel.phase} stage at layer {layer.name}")]
    return []


def _zero_mean(trace: Trace, model: ModelInfo) -> list[Finding]:
    step = trace.last_step
    for channel in (Channel.OUTPUT, Channel.OUTPUT_GRAD):
        for layer in layers_in_order(trace, model):
            if not trace.has(layer.index, channel):
                continue
            means = trace.series(layer.index, channel, "mean")
            known = means[~np.isnan(means)]
            if len(known) and (known == 0).sum() >= 0.5 * len(known):
                return [finding(Symptom.CONSTANT_OUTPUT, channel.phase, layer, step,
                                f"DeepLocalize-2021: mean of {channel} is 0 in {int((known == 0).sum())} of "
                                f"{len(known)} iterations at layer {layer.name}")]
    return []


def _unchanged(trace: Trace, model: ModelInfo) -> list[Finding]:
    if trace.steps_observed < WINDOW:
        return []
    step = trace.last_step
    for channel in (Channel.OUTPUT, Channel.OUTPUT_GRAD, Channel.WEIGHTS):
        for layer in layers_in_order(trace, model):
            if layer.type.lower() in SKIPPED_TYPES or not trace.has(layer.index, channel):
                continue
            if identical(trace.series(layer.index, channel, "mean", last=WINDOW)):
                symptom = Symptom.UNCHANGED_WEIGHTS if channel == Channel.WEIGHTS else Symptom.CONSTANT_OUTPUT
                return [finding(symptom, channel.phase, layer, step,
                                f"DeepLocalize-2021: {channel} of layer {layer.name} unchanged over "
                                f"{WINDOW} batches")]
    return []


def _not_learning(trace: Trace, model: ModelInfo) -> list[Finding]:
    if trace.steps_observed < WINDOW:
        return []
    step = trace.last_step
    if identical(trace.loss(last=WINDOW)):
        return [finding(Symptom.LOSS_NOT_DECREASING, Phase.LOSS, None, step,
                        "DeepLocalize-2021: model does not learn (loss unchanged over 5 batches)")]
    if identical(trace.metric("accuracy", last=WINDOW)):
        return [finding(Symptom.ACCURACY_NOT_INCREASING, Phase.METRIC, None, step,
                        "DeepLocalize-2021: model does not learn (accuracy unchanged over 5 batches)")]
    return []


def deeplocalize_2021(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """All four checks in order; the first that fails is the answer."""
    for check in (_nonfinite, _zero_mean, _unchanged, _not_learning):
        found = check(trace, model)
        if found:
            return found
    return []


DEEPLOCALIZE_2021 = [Detector("deeplocalize_2021", deeplocalize_2021, "step")]
