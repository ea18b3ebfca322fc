"""Structural facts about a model that explain a failure it can cause, each read from the model itself.

- ``linear_stack``: two kernel layers with no non-linearity between them (one linear map);
- ``batch_read_as_time``: a recurrent layer with ``batch_first=False`` fed (batch, time, features);
- ``extreme_dropout``: a dropout layer that drops most of its inputs (a keep probability passed as the rate);
- ``frozen_at_random_init``: a frozen layer whose weights are still a random initialization.

``diagnose`` turns them into votes when the run fails in a way they explain. numpy + stdlib only.
"""

from __future__ import annotations

import math

import numpy as np

from deeplocalize import summary as sm
from deeplocalize.model import LayerInfo, ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Channel


def extreme_dropout(model: ModelInfo, limit: float) -> LayerInfo | None:
    """The first dropout layer whose rate is ``limit`` or more (below 1: a rate of 1 drops everything and
    fails otherwise)."""
    for layer in sorted(model.layers, key=lambda x: x.index):
        rate = layer.extra.get("dropout_rate")
        if isinstance(rate, float) and limit <= rate < 1.0:
            return layer
    return None


def batch_read_as_time(model: ModelInfo) -> LayerInfo | None:
    """The first recurrent layer that takes axis 0 as time (``batch_first=False``) while its output's axis 0
    has the batch size of the labels and axis 1 does not: the batch is being read as the sequence."""
    batch = model.data.y_shape[0] if model.data is not None and model.data.y_shape else None
    for layer in model.layers:
        shape = layer.output_shape
        if (layer.extra.get("batch_first") is False and batch and shape and len(shape) == 3
                and shape[0] == batch and shape[1] != batch):
            return layer
    return None


_KERNEL_TYPES = ("linear", "dense", "conv")
_AFFINE_TYPES = ("dropout", "flatten", "reshape", "batchnorm", "batchnormalization", "layernorm",
                 "layernormalization", "identity")


def linear_stack(model: ModelInfo, trace: Trace | None = None) -> tuple[LayerInfo, LayerInfo] | None:
    """The first two kernel layers (Linear/Dense/Conv) with no non-linearity between them, or None.

    Only dropout, flatten/reshape and normalization layers (affine at inference) may sit between them; a
    layer with a non-linear activation or any other layer type (pooling, attention, recurrent) breaks it.
    A torch model can apply functions between its layers (``F.relu``, ``F.max_pool2d``) that no module type
    shows: there the claim needs evidence from a statistics step, the second layer's input equal to the
    first layer's output (``_passed_unchanged``).
    """
    def is_kernel(layer: LayerInfo) -> bool:
        t = (layer.type or "").lower()
        return layer.params > 0 and t.startswith(_KERNEL_TYPES)

    def is_linear(layer: LayerInfo) -> bool:
        return (layer.activation or "linear").lower() in ("linear", "none", "identity")

    layers = sorted(model.layers, key=lambda layer: layer.index)
    for k, layer in enumerate(layers):
        if not (is_kernel(layer) and is_linear(layer)):
            continue
        for nxt in layers[k + 1:]:
            t = (nxt.type or "").lower()
            if is_kernel(nxt):
                if is_linear(nxt) and (model.framework != "torch" or _passed_unchanged(trace, layer, nxt)):
                    return layer, nxt
                break
            if not any(t.startswith(a) for a in _AFFINE_TYPES):
                break
    return None


def _passed_unchanged(trace: Trace | None, first: LayerInfo, second: LayerInfo) -> bool:
    """On a statistics step, ``second``'s input had the size and range of ``first``'s output: nothing but
    reshaping happened between them (a ReLU or a pooling would change the range or the size)."""
    if trace is None:
        return False
    for record in (trace.first, trace.last_record):
        out = None if record is None else record.get(first.index, Channel.OUTPUT)
        inp = None if record is None else record.get(second.index, Channel.INPUT)
        if out is None or inp is None or np.isnan(out[sm.MIN]) or np.isnan(inp[sm.MIN]):
            continue
        tol = 1e-5 * max(abs(float(out[sm.MIN])), abs(float(out[sm.MAX])), 1e-12)
        return bool(out[sm.NUMEL] == inp[sm.NUMEL] and abs(out[sm.MIN] - inp[sm.MIN]) <= tol
                    and abs(out[sm.MAX] - inp[sm.MAX]) <= tol)
    return False


#: A uniform draw on [-b, b] has std b / sqrt(3): a kernel freshly drawn by a uniform initializer (Glorot
#: and He uniform, PyTorch's default for Linear/Conv, Keras' uniform embeddings) has max|w| / std = sqrt(3);
#: trained weights are heavier-tailed. With ``_MIN_WEIGHTS`` values the sample std is within 1% of its
#: expectation (3 standard errors inside ``_UNIFORM_TOL``).
_UNIFORM_SPREAD = math.sqrt(3.0)
_UNIFORM_TOL = 0.03
_MIN_WEIGHTS = 2000
#: PyTorch's ``nn.Embedding`` draws N(0, 1).
_TORCH_EMBEDDING_STD_TOL = 0.03


def frozen_at_random_init(model: ModelInfo) -> LayerInfo | None:
    """The first frozen layer (``requires_grad=False`` / ``trainable=False``) of a model that trains other
    layers, whose weights are still a random draw of a default initializer: it never learns and passes
    random features on. Pretrained weights do not look like a fresh draw; a layer too small to tell is
    left alone."""
    if not any(x.trainable_params > 0 for x in model.layers):
        return None
    for layer in sorted(model.layers, key=lambda x: x.index):
        kernel = layer.extra.get("init") or layer.extra.get("frozen_kernel")
        if layer.params <= 0 or layer.trainable_params > 0 or not isinstance(kernel, dict):
            continue
        try:
            std, mean, n = (float(kernel[k]) for k in ("kernel_std", "kernel_mean", "kernel_numel"))
            low, high = float(kernel["kernel_min"]), float(kernel["kernel_max"])
        except (KeyError, TypeError, ValueError):
            continue
        if n < _MIN_WEIGHTS or not std > 0 or high == 0:
            continue
        centred = abs(mean) <= 0.05 * std
        spread = max(abs(low), abs(high)) / std
        uniform = abs(spread / _UNIFORM_SPREAD - 1) <= _UNIFORM_TOL and abs(abs(low) / abs(high) - 1) <= 0.05
        normal_embedding = (model.framework == "torch" and layer.type == "Embedding"
                            and abs(std - 1.0) <= _TORCH_EMBEDDING_STD_TOL)
        if centred and (uniform or normal_embedding):
            return layer
    return None
