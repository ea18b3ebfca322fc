"""Low precision: lost_updates (a bf16/fp16 layer whose updates are mostly rounded away) and overflow_risk
(a float16 layer's outputs growing toward the largest value float16 holds).

lost_updates:

An update smaller than half the spacing of the weight's dtype around the weight (bf16 keeps 8 significant
bits: relative spacing 2**-7) leaves the weight exactly as it was. At statistics steps the torch probe
counts, for layers whose weights are bf16 or fp16, the update elements that are exactly zero; the updates
lost to rounding are those zeros beyond the gradient's own zeros (a zero gradient gives a zero update in
any precision). When they are at least ``lost_frac`` of the layer at the last ``lost_min_points``
statistics steps, the finding names the layer. A warning: bf16 training with a usual learning rate loses a
good share of its updates and still learns; it becomes a fault with the stall it explains (``severity``).

overflow_risk: for a layer whose forward runs in a narrow float (float16 autocast, or float16 or float8
weights: ``LIMITS``), whose largest output magnitude at the last two statistics steps is within
``overflow_headroom`` of the largest value of that dtype and grew from one to the next. bfloat16 has
float32's range: a value near its limit is an exploding tensor long before. A warning, before the
overflow; the NaN/Inf it turns into is then found at that layer (the replay runs in the step's precision)
and the warning explains it.
"""

from __future__ import annotations

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import fixes
from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors import register
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Symptom

#: The low-precision weight dtypes this rule judges, with their relative spacing (``summary.EPSILON``).
EPSILON = {dtype: eps for dtype, eps in sm.EPSILON.items() if dtype != "float32"}


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
        causes = [CauseHint(Category.OPTIMIZER, cw.LOST_UPDATES_MASTER_WEIGHTS,
                            fixes.fp32_master_weights(model, trace, ref), ref),
                  CauseHint(Category.LEARNING_RATE, cw.LOST_UPDATES_LR,
                            fixes.lr_fix(model, trace, "low", "updates are lost"))]
        return [cm.finding(Symptom.LOST_UPDATES, Phase.UPDATE, model, trace, layer.index, first, message,
                           {"lost_frac": share, "dtype": dtype}, causes)]
    return []


#: Largest finite float16 value (IEEE half precision).
FLOAT16_MAX = 65504.0
#: Largest finite value of each narrow float dtype (torch's names; OCP 8-bit floating point spec for fp8).
LIMITS = {"float16": FLOAT16_MAX, "float8_e4m3fn": 448.0, "float8_e4m3fnuz": 240.0,
          "float8_e5m2": 57344.0, "float8_e5m2fnuz": 57344.0}


@register("overflow_risk", "check")
def overflow_risk(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """The first layer (forward order) of a narrow-float forward whose outputs near its dtype's limit and
    grow."""
    autocast = model.extra.get("autocast")
    steps = trace.steps()
    for index in cm.indices(trace, Channel.OUTPUT):
        layer = model.layer(index)
        weights = layer.extra.get("param_dtype") if layer is not None else None
        dtype = weights if weights in LIMITS else autocast
        if dtype not in LIMITS:
            continue
        limit = LIMITS[dtype]
        mags = cm.max_abs_series(trace.matrix(index, Channel.OUTPUT))
        measured = np.flatnonzero(np.isfinite(mags))
        if len(measured) < 2:
            continue
        before, last = mags[measured[-2]], mags[measured[-1]]
        if last >= limit / config.overflow_headroom and last > before:
            step = int(steps[measured[-1]])
            message = (f"the outputs of {cm.name(model, index)} reach |x| = {cm.fmt(float(last))} in {dtype} "
                       f"(up from {cm.fmt(float(before))}), within {config.overflow_headroom:g}x of its "
                       f"largest value {limit:g}: they overflow to Inf if they keep growing")
            ref = cm.ref(model, index)
            causes = [CauseHint(Category.ARCHITECTURE, cw.OVERFLOW_RISK_HEADROOM,
                                fixes.overflow_headroom(model, trace, ref), ref),
                      CauseHint(Category.LEARNING_RATE, cw.OVERFLOW_RISK_LR,
                                fixes.lr_fix(model, trace, "high", "outputs grow"))]
            return [cm.finding(Symptom.OVERFLOW_RISK, Phase.FORWARD, model, trace, index, step, message,
                               {"max_abs": float(last), "previous_max_abs": float(before),
                                "limit": limit, "dtype": dtype}, causes)]
    return []
