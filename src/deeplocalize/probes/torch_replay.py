"""Replay a faulty step with every layer's hooks on, to find the layer and phase that produced a NaN/Inf.

Ordinary steps run without per-layer hooks; the fused check at the optimizer step (before the update) tells
whether anything became non-finite. If so, the step's forward calls are run again on the same inputs, with
the same RNG state and in the same autocast precision, through the eager module (not a compiled one), with
exact non-finite counts of every layer's input, output and output gradient; the backward is driven by the
gradients the model's outputs received in the real step (kept for the step when they are small,
``MAX_KEPT_GRAD``), so a loss computed anywhere in the user's code replays exactly. Afterwards the user's
state is as if nothing had happened: the RNG streams are restored (``compat.torch.forked_rng``), buffers
(BatchNorm statistics) and the vectors among the parameters that are not trained (Keras's moving
statistics) are put back, and parameter gradients are untouched (``torch.autograd.grad`` returns gradients,
it does not accumulate them).

What a step keeps for this, per forward call of the model (``ForwardCall``): references to its arguments,
the RNG state before it, the autocast regions it ran in, and its outputs' gradients; all dropped when the
step ends.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from deeplocalize.compat import torch as compat
from deeplocalize.probes import torch_reduce as red
from deeplocalize.probes.torch_hooks import LayerObserver, Mode, iter_tensors, record
from deeplocalize.probes.torch_layers import LayerTable

#: Output gradients kept per step for a replay, in elements (64 MiB of float32): a language model's logits
#: gradient can be far larger; it is then not kept, and a NaN made in the backward pass is localized by the
#: parameter gradients' norms only (the layers before it, in forward order, get non-finite gradients).
MAX_KEPT_GRAD = 1 << 24


@dataclass
class ForwardCall:
    """One training forward call of the model within the current step."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    rng: tuple[torch.Tensor, list[torch.Tensor]] | None  # None: the model draws no random numbers
    devices: list[int]
    #: position in ``iter_tensors(output)`` -> the gradient that output received (None: not kept)
    grads: dict[int, torch.Tensor | None] = field(default_factory=dict)
    #: the call's floating outputs, held for the step (alive until the backward anyway)
    outputs: list[torch.Tensor] = field(default_factory=list)
    #: the autocast regions it ran in (mixed precision: the replay runs in the same precision)
    autocast: list[tuple[str, torch.dtype]] = field(default_factory=list)
    #: the model's own ``forward`` attribute at the call (None: its class's), for ``replayable``
    forward: Any = None

    def replayable(self, eager: nn.Module) -> bool:
        """The call can run again: its keyword arguments are known, and the model's ``forward`` is the one
        it ran. A trainer that redirects ``forward`` for one call (Lightning runs ``training_step`` through
        the DDP wrapper this way) has put the original back: replaying it would run something else."""
        return self.kwargs is not None and eager.__dict__.get("forward") is self.forward


def cuda_devices(*objs: Any) -> list[int]:
    """The CUDA devices the tensors in ``objs`` live on (their RNG is saved with a forward call)."""
    return sorted({t.device.index or 0 for obj in objs for t in iter_tensors(obj) if t.is_cuda})


class GradKeeper:
    """Keeps the gradients the outputs of a step's forward calls receive, within a size budget."""

    def __init__(self, budget: int = MAX_KEPT_GRAD) -> None:
        self.budget = budget
        self.used = 0

    def watch(self, call: ForwardCall, output: Any) -> None:
        for position, t in enumerate(iter_tensors(output)):
            if isinstance(t, torch.Tensor) and t.requires_grad:
                call.grads[position] = None
                t.register_hook(self._hook(call, position, t.numel()))

    def _hook(self, call: ForwardCall, position: int, numel: int) -> Callable[[torch.Tensor], None]:
        # the call is held weakly: it holds the output this hook is registered on, and a cycle through a
        # tensor's hooks is never collected (an output, its gradient and the call's arguments a step leaked)
        ref = weakref.ref(call)

        def keep(grad: torch.Tensor) -> None:
            target = ref()
            if target is not None and grad is not None and self.used + numel <= self.budget:
                self.used += numel
                target.grads[position] = grad  # a reference: the tensor is not changed, freed at step end
        return keep


@dataclass
class Replayed:
    """How a replay went: ``complete`` (every forward replayed, and every backward whose output gradients
    were kept); ``outside`` (some output received a non-finite gradient in the real step: the loss, or
    code after the model, made it, so there was no backward of the model to replay for it)."""

    complete: bool = True
    outside: bool = False
    replayed: int = 0  # forward calls run again (the inputs' counts are taken for every call)


def replay(table: LayerTable, eager: nn.Module, calls: list[ForwardCall], buffer: red.StepBuffer,
           on_error: Callable[[str, BaseException], None]) -> Replayed:
    """Replay ``calls`` through ``eager`` with exact per-layer counts into ``buffer``; the counts say
    whether the NaN/Inf was reproduced inside the model."""
    # the state a forward may change: buffers (BatchNorm statistics) and vectors among the parameters that
    # are not trained (Keras keeps its moving statistics in non-trainable variables, not buffers; a frozen
    # weight matrix, as in a LoRA fine-tune, is not copied: a forward does not write it)
    frozen = (p for p in eager.parameters() if not p.requires_grad and p.dim() <= 1)
    buffers = [b for b in (*eager.buffers(), *frozen)
               if b.is_floating_point() or b.dtype in (torch.int64, torch.int32)]
    with torch.no_grad():
        saved = [b.clone() for b in buffers]
    observer = LayerObserver(table, buffer, Mode.EXACT, on_error, accept=lambda m: m.training)
    params = [p for p in eager.parameters() if p.requires_grad]
    result = Replayed()
    observer.attach()
    try:
        for call in calls:
            for t in iter_tensors((call.args, call.kwargs or {})):  # the input's own NaN/Inf count
                if t.is_floating_point():
                    record(buffer, "data", t, Mode.EXACT)
                    break
            if not call.replayable(eager):  # unknown keyword arguments, or another forward now
                result.complete = False
                continue
            result.replayed += 1
            with compat.forked_rng(call.devices):
                if call.rng is not None:  # a model without random layers: its replay needs no RNG state
                    compat.set_rng_state(call.rng, call.devices)
                with torch.enable_grad(), compat.autocast(call.autocast):
                    output = eager(*call.args, **call.kwargs)
                    outs, grads = [], []
                    for position, t in enumerate(iter_tensors(output)):
                        grad = call.grads.get(position)
                        if grad is not None and t.requires_grad and t.shape == grad.shape:
                            if bool(torch.isfinite(grad).all()):
                                outs.append(t)
                                grads.append(grad)
                            else:  # a NaN gradient from the loss: no layer of the model made it
                                result.outside = True
                        elif position in call.grads and call.grads[position] is None:
                            result.complete = False  # the real step's gradient for this output was not kept
                    if outs and params:
                        torch.autograd.grad(outs, params, grads, allow_unused=True)
    finally:
        observer.detach()
        with torch.no_grad():
            for b, s in zip(buffers, saved, strict=True):
                b.copy_(s)
    return result
