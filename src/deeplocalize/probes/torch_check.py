"""The every-step check: one fused reduction over a model's parameter gradients and parameters.

At the optimizer step, before the update: the L2 norm of every parameter gradient and of every parameter,
in one ``_foreach_norm`` per (device, dtype) group, stacked with the step's losses and accuracy counts and
read with the step's one host copy. A norm is finite exactly when its tensor holds no NaN/Inf (barring an
overflow of the squares, which a replay then clears up), so a finite result proves the step clean. The
norms are kept per layer (WEIGHT_GRAD and WEIGHTS ``norm``), so gradient trends are seen every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from deeplocalize.probes import torch_reduce as red
from deeplocalize.probes.torch_layers import LayerSlot, LayerTable
from deeplocalize.vocabulary import Channel


@dataclass
class NormPlan:
    """Which tensors the check reduces, worked out when the model's layers or parameters change."""

    params: list[torch.Tensor]
    grad_keys: list[tuple[LayerSlot, Channel]]
    weight_keys: list[tuple[LayerSlot, Channel]]

    @classmethod
    def of(cls, table: LayerTable) -> NormPlan:
        kept = [(slot, p) for slot, p in table.parameters()
                if not (p.is_complex() or p.is_sparse) and p.numel() and p.device.type != "meta"]
        return cls([p for _, p in kept], [(s, Channel.WEIGHT_GRAD) for s, _ in kept],
                   [(s, Channel.WEIGHTS) for s, _ in kept])


def add_norms(buffer: red.StepBuffer, plan: NormPlan, grads: bool = True, weights: bool = True) -> None:
    """Append the gradient and/or parameter norms of ``plan`` to ``buffer`` (``"norms"`` entries)."""
    tensors: list[torch.Tensor] = []
    extra: list[tuple[tuple[LayerSlot, Channel], int]] = []
    if grads:
        for p, key in zip(plan.params, plan.grad_keys, strict=True):
            g = p.grad
            if g is not None:
                g = g.coalesce().values() if g.is_sparse else g
                tensors.append(g)
                extra.append((key, g.numel()))
    if weights:
        tensors.extend(plan.params)
        extra.extend((key, p.numel()) for p, key in zip(plan.params, plan.weight_keys, strict=True))
    if not tensors:
        return
    with torch.no_grad():
        groups = red.group_norms(tensors)
    for positions, norms in groups:
        buffer.add("norms", "norms", len(norms), norms, extra=[extra[i] for i in positions])


def add_loss(buffer: red.StepBuffer, loss: torch.Tensor) -> None:
    """A loss tensor (a scalar; several per step are averaged)."""
    value = loss.detach()
    buffer.add("loss", "loss", 1, [value.reshape(()).float() if value.numel() == 1 else value.float().mean()])
