"""The root causes a vanishing gradient votes for: saturating hidden activations, the initialization, depth.

The initialization's vote is a stated fact (``cw.VANISHING_INIT_MEASURED``) when the weights say so: the
kernel layers the gradient vanished through (from the input up to the reported layer, the output layer
excepted) started, at their median, ``Config.vanishing_small_init_factor`` times or more below the smallest
default scale for their fan-in (PyTorch's 1/sqrt(3 fan_in), Glorot), and no normalization layer sits among
them. Without one, each layer scales the signal passing back through it by about its weight scale x
sqrt(fan_in): a few such layers shrink it by orders of magnitude whatever the activation. A normalization
layer restores the scale, so in a normalized network (a transformer's LayerNorm, a CNN's BatchNorm) a
small deliberate init (GPT-2's N(0, 0.02)) is not evidence. Otherwise the vote stays a weak guess
(``cw.VANISHING_INIT``).
"""

from __future__ import annotations

import numpy as np

from deeplocalize import causes as cw
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors.initialization import initial_scale, is_kernel_layer
from deeplocalize.diagnosis import CauseHint
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category


def vanishing_causes(trace: Trace, model: ModelInfo, config: Config, top: int) -> list[CauseHint]:
    """The votes of a vanishing gradient reported at layer ``top`` (index)."""
    last = cm.last_param_index(model, trace)
    bounded = [
        layer.index
        for layer in model.layers
        if (layer.activation or "").lower() in cm.SATURATING and (last is None or layer.index < last)
    ]
    causes: list[CauseHint] = []
    if bounded:
        acts = ", ".join(
            f"{n} ({cm.activation(model, i)})" for n, i in zip(cm.names(model, bounded), bounded, strict=True)
        )
        causes.append(cm.cause(
            Category.ACTIVATION, cw.VANISHING_SATURATING_ACT,
            f"hidden layers {acts} squash their gradients: use relu (or leaky_relu) in hidden layers",
            model, bounded[0],  # a fault spanning several layers is named at the first (forward order)
        ))
    small = _small_initial_scale(trace, model, config, top, last)
    if small is not None:
        first, scale, low = small
        text = (f"the layers up to {cm.name(model, top)} start with weights about {cm.fmt(low / scale)}x "
                f"smaller than the default scale (median RMS {cm.fmt(scale)} against {cm.fmt(low)}), and no "
                "normalization restores the signal between them: use He (relu) or Glorot (tanh/sigmoid) "
                "initialization")
        causes.append(cm.cause(Category.INITIALIZATION, cw.VANISHING_INIT_MEASURED, text, model, first))
    else:
        causes.append(cm.cause(
            Category.INITIALIZATION, cw.VANISHING_INIT,
            f"initialize the layers up to {cm.name(model, top)} with He (relu) or Glorot (tanh/sigmoid) "
            "scale", model, top,
        ))
    causes.append(cm.cause(
        Category.ARCHITECTURE, cw.VANISHING_DEPTH,
        "add BatchNorm or residual connections, or use fewer layers", model, top,
    ))
    return causes


def _small_initial_scale(trace: Trace, model: ModelInfo, config: Config, top: int,
                         last: int | None) -> tuple[int, float, float] | None:
    """(first such layer, median initial scale, median default scale) of the kernel layers up to ``top``
    when they start ``vanishing_small_init_factor`` times below the default scale with no normalization
    layer among them; else None."""
    span = [layer for layer in sorted(model.layers, key=lambda x: x.index) if layer.index <= top]
    if any(cm.is_normalizing(model, layer.index) for layer in span):
        return None
    measured = [(layer.index, initial_scale(trace, layer)) for layer in span
                if is_kernel_layer(layer) and layer.params > 0 and layer.index != last]
    scales = [(i, s) for i, s in measured if s is not None and s[0] > 0]
    if not scales:
        return None
    scale = float(np.median([s for _, (s, _) in scales]))
    low = float(np.median([low for _, (_, low) in scales]))
    if scale * config.vanishing_small_init_factor > low:
        return None
    return scales[0][0], scale, low
