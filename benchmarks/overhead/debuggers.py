"""The debuggers deeplocalize is compared with, as context managers around a training block."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def anomaly_mode() -> Iterator[None]:
    """``torch.autograd.detect_anomaly``: NaN checks after every backward node."""
    with torch.autograd.detect_anomaly(check_nan=True):
        yield


@contextlib.contextmanager
def hook_debugger(model: nn.Module) -> Iterator[list[float]]:
    """A per-module forward-hook debugger in the style of Hugging Face's DebugUnderflowOverflow.

    Every module's tensor output is checked for NaN and Inf and its abs-max read, each with ``.item()``:
    three host synchronisations per module call, as such debuggers do.
    """
    maxima: list[float] = []

    def check(_module: nn.Module, _inputs: object, output: object) -> None:
        tensors = output if isinstance(output, (tuple, list)) else (output,)
        for t in tensors:
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                if torch.isnan(t).any().item() or torch.isinf(t).any().item():
                    raise FloatingPointError("non-finite output")
                maxima.append(t.detach().abs().max().item())
        if len(maxima) > 1024:  # keep a bounded frame history, as the HF debugger does
            del maxima[:512]

    handles = [m.register_forward_hook(check) for m in model.modules()]
    try:
        yield maxima
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def fused_check_floor(model: nn.Module, optimizer: torch.optim.Optimizer) -> Iterator[list[bool]]:
    """The least an every-step fused check can cost: no deeplocalize, only what the design prescribes for an
    ordinary step. An optimizer pre-step hook takes the L2 norm of every parameter gradient and every
    parameter in one ``torch._foreach_norm``, stacks them and reads whether all are finite (one host read).
    It keeps no record, loss, accuracy or replay state, so any real probe costs at least this."""
    params = [p for p in model.parameters() if p.requires_grad]
    seen: list[bool] = []

    def check(_opt: torch.optim.Optimizer, _args: object, _kwargs: object) -> None:
        tensors = [p.grad for p in params if p.grad is not None] + params
        with torch.no_grad():
            norms = torch._foreach_norm(tensors)
            seen.append(bool(torch.isfinite(torch.stack(norms)).all()))
        if len(seen) > 1024:
            del seen[:512]

    handle = optimizer.register_step_pre_hook(check)
    try:
        yield seen
    finally:
        handle.remove()
