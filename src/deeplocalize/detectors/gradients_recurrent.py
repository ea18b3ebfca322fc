"""recurrent_no_gradient: a recurrent layer whose weight gradient is exactly zero in a large share at every
measured step (its recurrent weights never matter: the wrong time step is read), category architecture.
Reported as a vanishing gradient of that layer."""

from __future__ import annotations

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors import register
from deeplocalize.diagnosis import Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Symptom

_RECURRENT = ("gru", "lstm", "rnn", "simplernn")


@register("recurrent_no_gradient", "check")
def recurrent_no_gradient(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """A recurrent layer where a large share of the weight gradient is exactly zero at every measured step.

    The recurrent (hidden-to-hidden) weights act on h_{t-1}; they get an exactly zero gradient only when the
    part of the output the loss reads never depends on an earlier hidden state: e.g. ``out[:, 0]`` read
    instead of ``out[:, -1]`` (h_{-1} = 0). A healthy RNN never has exactly-zero recurrent gradients.
    Reported as a vanishing gradient of that layer, category architecture.
    """
    found = []
    steps = trace.steps()
    for layer in model.layers:
        if not (layer.type or "").lower().startswith(_RECURRENT) or not trace.has(layer.index,
                                                                                   Channel.WEIGHT_GRAD):
            continue
        g = trace.matrix(layer.index, Channel.WEIGHT_GRAD)
        zero, norm = g[:, sm.ZERO_FRAC], g[:, sm.NORM]
        measured = np.isfinite(zero) & np.isfinite(norm) & (norm > 0)
        cond = cm.as_cond(zero >= config.recurrent_zero_grad_frac, measured)
        start = cm.first_sustained(steps, cond, config.recurrent_min_points, 1.0)
        if start is None:
            continue
        share = float(np.median(zero[measured][-config.recurrent_min_points:]))
        name = cm.name(model, layer.index)
        fix = (f"{cm.pct(share)} of the weights of recurrent layer {name} (its hidden-to-hidden weights) get "
               "exactly zero gradient: the output the loss reads does not depend on earlier time steps; read "
               "the last time step (out[:, -1] with batch_first=True, or the final hidden state) and check "
               "the (batch, time, features) layout")
        found.append(cm.finding(
            Symptom.VANISHING_GRADIENT, Phase.BACKWARD, model, trace, layer.index, start,
            f"{cm.pct(share)} of the weight gradient of recurrent layer {name} is exactly zero at every step",
            {"zero_grad_frac": share, "rule": "recurrent_no_gradient"},
            [cm.cause(Category.ARCHITECTURE, cw.RECURRENT_NO_GRADIENT, fix, model, layer.index)]))
    return found
