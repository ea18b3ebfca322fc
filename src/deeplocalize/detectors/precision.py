"""lost_updates: a low-precision (bf16/fp16) layer whose updates are mostly rounded away.

An update smaller than half the spacing of the weight's dtype around the weight (bf16 keeps 8 significant
bits: relative spacing 2**-7) leaves the weight exactly as it was. At statistics steps the torch probe
counts, for layers whose weights are bf16 or fp16, the update elements that are exactly zero; the updates
lost to rounding are those zeros beyond the gradient's own zeros (a zero gradient gives a zero update in
any precision). When they are at least ``lost_frac`` of the layer at the last ``lost_min_points``
statistics steps, the finding names the layer. A warning: bf16 training with a usual learning rate loses a
good share of its updates and still learns; it becomes a fault with the stall it explains (``severity``).
"""

from __future__ import annotations

import numpy as np

from deeplocalize import fixes
from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors import register
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Symptom

#: Relative spacing of representable values (machine epsilon) of the low-precision weight dtypes.
EPSILON = {"bfloat16": 2.0 ** -7, "float16": 2.0 ** -10}


@register("lost_updates", "check")
def lost_updates(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """The first layer (forward order) of low-precision weights whose updates are mostly rounded away."""
    steps = trace.steps()
    for layer in sorted(model.layers, key=lambda x: x.index):
        dtype = layer.extra.get("param_dtype")
        if dtype not in EPSILON or not trace.has(layer.index, Channel.UPDATE):
            continue
        update = trace.matrix(layer.index, Channel.UPDATE)[:, sm.ZERO_FRAC]
        grad = trace.matrix(layer.index, Channel.WEIGHT_GRAD)[:, sm.ZERO_FRAC]
        both = np.isfinite(update) & np.isfinite(grad)
        lost = (update - grad)[both]
        n = config.lost_min_points
        if len(lost) < n or not bool((lost[-n:] >= config.lost_frac).all()):
            continue
        share = float(np.median(lost[-n:]))
        first = int(steps[both][-n])
        message = (f"{share:.0%} of the updates of {cm.name(model, layer.index)} ({dtype} weights) are "
                   f"rounded away: each is below the resolution of {dtype} (relative spacing "
                   f"{EPSILON[dtype]:g}) at its weight, although its gradient is not zero")
        ref = layer.ref
        causes = [CauseHint(Category.OPTIMIZER, 0.7, fixes.fp32_master_weights(model, trace, ref), ref),
                  CauseHint(Category.LEARNING_RATE, 0.3,
                            fixes.lr_fix(model, trace, "low", "updates are lost"))]
        return [cm.finding(Symptom.LOST_UPDATES, Phase.UPDATE, model, trace, layer.index, first, message,
                           {"lost_frac": share, "dtype": dtype}, causes)]
    return []
