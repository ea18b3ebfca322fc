"""Model facts the curve and pre-flight detectors share: loss family, class count, output activation, chance.

Pure functions of ``ModelInfo`` (and, for chance levels, the target summaries in the trace); numpy + stdlib.
"""

from __future__ import annotations

import math
import re

import numpy as np

from deeplocalize import summary
from deeplocalize.model import LayerInfo, ModelInfo
from deeplocalize.trace import Trace

#: Normalized loss names (model.LossInfo.name, torch and Keras spellings) by family.
CE_LOSSES = frozenset({"cross_entropy", "categorical_crossentropy", "sparse_categorical_crossentropy"})
NLL_LOSSES = frozenset({"nll", "nll_loss"})
BCE_LOSSES = frozenset({"bce", "bce_logits", "binary_crossentropy"})
VALUE_LOSSES = frozenset({"mse", "mae", "l1", "huber", "smooth_l1", "log_cosh", "msle", "mape"})
SQUARED_LOSSES = frozenset({"mse"})

#: Layer types at the end of a network that pass values through unchanged (skipped to find the output).
_PASS_THROUGH = re.compile(r"^(flatten|dropout|identity|reshape|unflatten|squeeze|permute)", re.I)

#: Share of exact zeros, with none below 0, at or above which the values a loss receives were clamped by a
#: ReLU: it zeroes about half of zero-mean scores, while exact zeros are otherwise rare among float outputs
#: (own choice, well below a half to allow skewed scores).
RELU_ZERO_SHARE = 0.1
#: (low, high) of each output activation's values.
ACTIVATION_RANGE: dict[str, tuple[float, float]] = {
    "sigmoid": (0.0, 1.0),
    "hard_sigmoid": (0.0, 1.0),
    "softmax": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "softsign": (-1.0, 1.0),
    "relu": (0.0, math.inf),
    "relu6": (0.0, 6.0),
    "softplus": (0.0, math.inf),
    "exponential": (0.0, math.inf),
    "elu": (-1.0, math.inf),
    "selu": (-1.7581, math.inf),
    "log_softmax": (-math.inf, 0.0),
}


def loss_family(model: ModelInfo) -> str | None:
    """"ce", "nll", "bce", "value" or None (unknown / custom)."""
    if model.loss is None:
        return None
    name = model.loss.name.lower()
    if name in CE_LOSSES:
        return "ce"
    if name in NLL_LOSSES:
        return "nll"
    if name in BCE_LOSSES:
        return "bce"
    if name in VALUE_LOSSES:
        return "value"
    return None


def loss_expects(model: ModelInfo) -> str | None:
    """What the loss expects of the output: "logits", "probabilities", "log_probabilities" or "values"."""
    if model.loss is None:
        return None
    if model.loss.from_logits is True:
        return "logits"
    return model.loss.expects


def output_layer(model: ModelInfo) -> LayerInfo | None:
    """The layer whose activation the loss sees: the last one, skipping trailing pass-through layers."""
    for layer in sorted(model.layers, key=lambda item: -item.index):
        if layer.activation in (None, "linear") and layer.params == 0 and _PASS_THROUGH.match(layer.type):
            continue
        return layer
    return None


def output_weights(model: ModelInfo) -> LayerInfo | None:
    """The layer whose weights make the outputs: ``output_layer``, or for tensors trained by hand (no layer
    calls to order them by) the last matrix among them (``h @ W2 + b2``: ``W2``, not the bias after it)."""
    if model.of_bare_tensors:
        matrices = [layer for layer in model.layers if len(layer.extra.get("tensor_shape") or ()) >= 2]
        if matrices:
            return max(matrices, key=lambda layer: layer.index)
    return output_layer(model)


def output_values(model: ModelInfo) -> dict | None:
    """What the loss actually received on the first step (torch probe: ``output_value_facts``), if known."""
    values = model.extra.get("output_values")
    return values if isinstance(values, dict) and values.get("finite") else None


def observed_activation(values: dict) -> str | None:
    """The output activation the received values prove: log-probabilities (``log_softmax``), rows of
    probabilities summing to 1 (``softmax``), none below 0 and many exactly 0 (``relu``: ``RELU_ZERO_SHARE``),
    values strictly inside (0, 1) (``sigmoid``); "linear" for values no probability-like activation produces
    (negative and above 1 together, or above 1 and below 0.5 at once is not decisive: only a clear range
    counts); None when the values prove nothing."""
    lo, hi = float(values["min"]), float(values["max"])
    if values.get("exp_sums_to_one"):
        return "log_softmax"
    if values.get("sums_to_one"):
        return "softmax"
    if lo == 0.0 and hi > 0.0 and values.get("zero_share", 0.0) >= RELU_ZERO_SHARE:
        return "relu"
    if lo > 0.0 and hi < 1.0:
        return "sigmoid"
    if lo < 0.0 and hi > 1.0:
        return "linear"
    return None


def output_activation(model: ModelInfo) -> str | None:
    """The output activation the loss sees: the values it received when known (a ``F.log_softmax`` or
    ``torch.sigmoid`` inside ``forward()`` is invisible in the module types), else the last layer's."""
    layer = output_layer(model)
    declared = None if layer is None or layer.activation is None else layer.activation.lower()
    values = output_values(model)
    if values is not None and declared is not None and _outside_range(declared, values):
        declared = None  # the loss did not receive that layer's output (a head module, or an op after it)
    observed = observed_activation(values) if values is not None else None
    if observed is None or loss_family(model) not in ("ce", "nll", "bce"):
        return declared  # a regression's outputs can sit in (0, 1) by chance: only a declared one counts
    if observed == "sigmoid" and loss_expects(model) != "probabilities":
        return declared  # logits near 0 can all lie in (0, 1): a range proves a sigmoid only to a BCELoss
    if observed == "linear" and declared not in (None, "linear", "identity", "softmax", "sigmoid",
                                                 "log_softmax", "hard_sigmoid"):
        return declared  # e.g. an unbounded activation (elu, selu, leaky_relu): consistent with the values
    return observed


def _outside_range(activation: str, values: dict) -> bool:
    """The received values leave the activation's range (a relu's output below 0): it did not make them."""
    bounds = ACTIVATION_RANGE.get(activation)
    if bounds is None:
        return False
    lo, hi = bounds
    tol = 1e-6 * max(1.0, *(abs(b) for b in bounds if math.isfinite(b)))
    return float(values["min"]) < lo - tol or float(values["max"]) > hi + tol


def output_units(model: ModelInfo) -> int | None:
    """Size of the class axis the loss scores: its input's second axis, where the probe saw a classification
    loss's input (a contrastive loss scores a batch's similarity matrix, not the last layer's units), else a
    softmax's axis size, else the last layer with known units."""
    shapes = model.extra.get("loss_shapes")
    if shapes and len(shapes[0]) >= 2 and loss_family(model) in ("ce", "nll"):
        return int(shapes[0][1])
    out = output_layer(model)
    if out is not None and out.activation == "softmax" and out.softmax_axis_size:
        return int(out.softmax_axis_size)
    for layer in sorted(model.layers, key=lambda item: -item.index):
        if layer.units:
            return int(layer.units)
    return None


def n_classes(model: ModelInfo) -> int | None:
    """Number of classes K of a classification loss (2 per output for binary cross-entropy), else None."""
    family = loss_family(model)
    if family == "bce":
        return 2
    if family not in ("ce", "nll"):
        return None
    units = output_units(model)
    if units is not None and units >= 2:
        return units
    if model.data is not None and model.data.n_classes and model.data.n_classes >= 2:
        return int(model.data.n_classes)
    return None


def positive_rate(trace: Trace) -> float | None:
    """Mean of 0/1 targets over the window (the positive-class share), or None if targets are not 0/1."""
    target = trace.target()
    known = target[~np.isnan(target[:, summary.NUMEL]) & (target[:, summary.NUMEL] > 0)]
    if not len(known):
        return None
    if np.any(known[:, summary.MIN] < 0) or np.any(known[:, summary.MAX] > 1):  # NaN: not measured
        return None
    weights = known[:, summary.NUMEL]
    means = known[:, summary.MEAN]
    ok = ~np.isnan(means)
    if not ok.any():
        return None
    return float(np.dot(weights[ok], means[ok]) / weights[ok].sum())


def loss_scale(model: ModelInfo) -> float:
    """The trained loss over the loss function's per-element mean (``extra["loss_scale"]``, set by a probe
    that saw a loss summed over the batch or divided for gradient accumulation; else 1)."""
    scale = model.extra.get("loss_scale")
    return float(scale) if isinstance(scale, int | float) and scale > 0 else 1.0


def chance_loss(trace: Trace, model: ModelInfo) -> float | None:
    """The loss of a model that ignores its input (prior entropy: log K for K classes; var(y) for MSE), in
    the units of the trained loss (``loss_scale``)."""
    per_element = _chance_per_element(trace, model)
    return None if per_element is None else per_element * loss_scale(model)


def loss_floor(model: ModelInfo) -> float:
    """The lowest loss any model reaches on these targets, in the units of the trained loss: 0, except binary
    cross-entropy on soft targets in [0, 1] (their mean binary entropy, ``DataInfo.y_bce_floor``). How far a
    loss has come, and how near chance it is, are measured above this floor."""
    floor = model.data.y_bce_floor if model.data is not None else None
    if floor is None or loss_family(model) != "bce" or not math.isfinite(floor):
        return 0.0
    return float(floor) * loss_scale(model)


def _chance_per_element(trace: Trace, model: ModelInfo) -> float | None:
    family = loss_family(model)
    if family in ("ce", "nll"):
        prior = model.data.y_prior_entropy if model.data is not None else None
        if prior is not None and prior > 0:
            return float(prior)  # predicting the class frequencies (log K for balanced classes)
        k = n_classes(model)
        return math.log(k) if k else None
    if family == "bce":
        p = positive_rate(trace)
        if p is None:
            return math.log(2.0)
        p = min(max(p, 1e-6), 1 - 1e-6)
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))
    if family == "value" and model.loss is not None and model.loss.name in SQUARED_LOSSES:
        std = trace.target()[:, summary.STD]
        std = std[np.isfinite(std)]
        if len(std):
            return float(np.mean(std**2))
        y_std = model.data.y_std if model.data is not None else None
        return float(y_std) ** 2 if y_std is not None and math.isfinite(y_std) else None
    return None


def chance_accuracy(trace: Trace, model: ModelInfo) -> float | None:
    """Accuracy of always predicting one class: max(1/K, majority share when the targets are 0/1)."""
    if model.task == "multilabel" or (model.data is not None and model.data.y_is_multi_hot):
        return None
    k = n_classes(model)
    if k is None and model.data is not None and model.data.n_classes and loss_family(model) != "value":
        k = model.data.n_classes
    if k is None:
        return None
    chance = 1.0 / k
    if k == 2:
        p = positive_rate(trace)
        if p is not None:
            chance = max(p, 1.0 - p)
    return chance
