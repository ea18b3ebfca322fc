"""What a training script's crash means, for the framework errors users meet most: one line of advice
beside the framework's own message (``deeplocalize run`` prints it). The framework's message says what
failed; the hint says which change usually fixes it, where the message's own suggestion misleads (PyTorch
suggests ``retain_graph=True`` for a hidden state carried across batches)."""

from __future__ import annotations

import re
from collections.abc import Callable

_Hint = Callable[[re.Match[str]], str]

_HINTS: tuple[tuple[re.Pattern[str], _Hint], ...] = (
    (re.compile(r"backward through the graph a second time"),
     lambda m: "a tensor made in an earlier step is part of this step's graph, typically an RNN's hidden "
               "state carried from the previous batch: detach it at each batch (h = h.detach()); "
               "retain_graph=True only hides this, and the graph then grows with every step"),
    (re.compile(r"modified by an inplace operation"),
     lambda m: "an in-place operation (x += ..., x[...] = ..., ReLU(inplace=True), .add_()) changed a "
               "tensor that the backward pass needs: use its out-of-place form; "
               "torch.autograd.set_detect_anomaly(True) names the forward operation"),
    (re.compile(r"Expected input batch_size \((\d+)\) to match target batch_size \((\d+)\)"),
     lambda m: f"the model returns {m[1]} rows for {m[2]} labels: a view or reshape mixed the batch "
               "dimension with another (x.view(-1, N) with the wrong N); flatten with x.flatten(1)"),
    (re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)"),
     lambda m: f"a Linear layer expects {m[3]} input features but receives {m[2]}: give it "
               f"in_features={m[2]} (or fix the shape of what the layers before it return)"),
    (re.compile(r"Target (-?\d+) is out of bounds"),
     lambda m: f"a class label ({m[1]}) is not one of the output's classes 0..K-1: re-encode the labels "
               "(e.g. subtract 1 from labels 1..K) or give the output layer more units"),
)


def crash_hint(error: str | None) -> str | None:
    """The advice for a script error's message, or None when it is not one of the known ones."""
    if not error:
        return None
    for pattern, hint in _HINTS:
        match = pattern.search(error)
        if match is not None:
            return hint(match)
    return None
