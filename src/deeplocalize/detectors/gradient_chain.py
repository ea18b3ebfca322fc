"""A gradient that fades layer by layer towards the input: the signature of a saturating stack.

Each sigmoid (tanh) layer multiplies the gradient passing back through it by its derivative, at most 1/4
(1), so in a deep stack of them the gradient norm shrinks by a steady factor at every layer, from the output
back to the input. ``fading_chain`` finds that: the weight-gradient norms of the first
``vanishing_chain_layers`` + 1 weighted layers (forward order) each at least ``vanishing_chain_factor``
smaller than the next, in the medians of the recent measured steps. It needs no absolute threshold, so it
holds where the first layer's gradient is small but not yet below the AUTOTRAINER limits of
``vanishing_gradient`` (a stack stuck at chance from its first steps).
"""

from __future__ import annotations

import numpy as np

from deeplocalize.config import Config


def fading_chain(norms: np.ndarray, steps: np.ndarray, points: int, config: Config) -> int | None:
    """The first step from which the gradient fades by the factor at each of the first layers (``norms``:
    steps x weighted layers in forward order, sparse layers left out), judged on the medians of windows of
    ``points`` measured steps (one step's ratios are noisy): the latest window must show it; the step is
    the start of the earliest window in the unbroken run of windows before it that show it too."""
    k = config.vanishing_chain_layers
    if norms.shape[1] < k + 1:
        return None
    head = norms[:, : k + 1]
    rows = np.flatnonzero(np.all(np.isfinite(head) & (head > 0), axis=1))
    if len(rows) < points:
        return None

    def fades(window: np.ndarray) -> bool:
        med = np.median(head[window], axis=0)
        return bool(np.all(med[1:] / med[:-1] >= config.vanishing_chain_factor))

    start = len(rows) - points
    if not fades(rows[start:]):
        return None
    while start >= points and fades(rows[start - points:start]):
        start -= points
    return int(steps[rows[start]])
