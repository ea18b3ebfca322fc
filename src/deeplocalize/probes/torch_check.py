"""The every-step check: one fused reduction over a model's parameter gradients and parameters.

At the optimizer step, before the update: the L2 norm of every parameter gradient and of every parameter,
in one ``_foreach_norm`` per (device, dtype) group, stacked with the step's losses and accuracy counts and
read with the step's one host copy. A norm is finite exactly when its tensor holds no NaN/Inf (barring an
overflow of the squares, which a replay then clears up), so a finite result proves the step clean. The
norms are kept per layer (WEIGHT_GRAD and WEIGHTS ``norm``), so gradient trends are seen every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from deeplocalize import summary
from deeplocalize.compat import torch as compat
from deeplocalize.probes import torch_reduce as red
from deeplocalize.probes.torch_layers import LayerTable
from deeplocalize.vocabulary import Channel


@dataclass
class NormGroup:
    """Which record key each norm of a ``"norms"`` entry belongs to (rows of one step's layer vectors):
    ``keys`` in order, ``group[i]`` the key of the i-th norm, ``numel`` per key."""

    keys: list[tuple[int, Channel]]
    group: np.ndarray
    numel: np.ndarray
    _template: np.ndarray | None = None

    def template(self) -> np.ndarray:
        """The rows of a step with no NaN/Inf before their norms are filled in: sizes, zero non-finite."""
        if self._template is None:
            self._template = np.full((len(self.keys), summary.N_STATS), np.nan)
            self._template[:, summary.NUMEL] = self.numel
            self._template[:, summary.NONFINITE] = 0.0
        return self._template

    @classmethod
    def of(cls, items: list[tuple[tuple[int, Channel], int]]) -> NormGroup:
        order: dict[tuple[int, Channel], int] = {}
        group = np.fromiter((order.setdefault(key, len(order)) for key, _ in items), dtype=np.intp,
                            count=len(items))
        numel = np.bincount(group, weights=[n for _, n in items], minlength=len(order))
        return cls(list(order), group, numel)


#: Parameter dtypes whose norms are taken in their own dtype (lower precisions are reduced in float32).
_UNIFORM_DTYPES = (torch.float32, torch.float64)


@dataclass
class NormPlan:
    """Which tensors the check reduces, worked out when the model's layers or parameters change: every
    real, dense, non-empty parameter of an indexed layer, with its record keys."""

    params: list[torch.Tensor]
    grad_keys: list[tuple[int, Channel]]
    weight_keys: list[tuple[int, Channel]]
    _full: dict[tuple[bool, bool], NormGroup] = field(default_factory=dict)
    #: every parameter a plain (not sharded) tensor of one device and one float32/float64 dtype: the check
    #: of a step whose gradients are all there and dense is one ``_foreach_norm`` with no grouping
    uniform: bool = False

    @classmethod
    def of(cls, table: LayerTable) -> NormPlan:
        kept = [(slot, p) for slot, p in table.parameters()
                if not (p.is_complex() or p.is_sparse) and p.numel() and p.device.type != "meta"]
        params = [p for _, p in kept]
        uniform = bool(params) and len({(p.device, p.dtype) for p in params}) == 1 and (
            params[0].dtype in _UNIFORM_DTYPES) and all(compat.local(p) is p for p in params)
        return cls(params, [(s.index, Channel.WEIGHT_GRAD) for s, _ in kept],  # type: ignore[misc]
                   [(s.index, Channel.WEIGHTS) for s, _ in kept], uniform=uniform)  # type: ignore[misc]

    def group(self, items: list[tuple[tuple[int, Channel], int]], grads: bool, weights: bool) -> NormGroup:
        """The grouping of ``items``; cached for the usual case (every gradient present)."""
        full = len(items) == len(self.params) * (int(grads) + int(weights))
        if not full:
            return NormGroup.of(items)
        cached = self._full.get((grads, weights))
        if cached is None:
            cached = self._full[(grads, weights)] = NormGroup.of(items)
        return cached

    def full_group(self) -> NormGroup:
        """The grouping of every gradient, then every parameter (the usual step's; ``group``'s cache)."""
        cached = self._full.get((True, True))
        if cached is not None:
            return cached
        return self.group([(key, p.numel()) for keys in (self.grad_keys, self.weight_keys)
                           for key, p in zip(keys, self.params, strict=True)], True, True)


def add_norms(buffer: red.StepBuffer, plan: NormPlan, grads: bool = True, weights: bool = True) -> None:
    """Append the gradient and/or parameter norms of ``plan`` to ``buffer`` (one ``"norms"`` entry per
    device and dtype group, its ``extra`` a ``NormGroup``)."""
    if grads and weights and plan.uniform and _add_uniform(buffer, plan):
        return
    tensors: list[torch.Tensor] = []
    extra: list[tuple[tuple[int, Channel], int]] = []
    if grads:
        for p, key in zip(plan.params, plan.grad_keys, strict=True):
            g = compat.local(p.grad)
            if g is not None:
                g = g.coalesce().values() if g.is_sparse else g
                tensors.append(g)
                extra.append((key, g.numel()))
    if weights:
        local = [compat.local(p) for p in plan.params]
        tensors.extend(local)
        extra.extend((key, p.numel()) for p, key in zip(local, plan.weight_keys, strict=True))
    if not tensors:
        return
    with torch.no_grad():
        groups = red.group_norms(tensors)
    if len(groups) == 1:
        positions, norms = groups[0]
        buffer.add("norms", "norms", len(norms), norms, extra=plan.group(extra, grads, weights))
        return
    for positions, norms in groups:
        buffer.add("norms", "norms", len(norms), norms, extra=NormGroup.of([extra[i] for i in positions]))


def _add_uniform(buffer: red.StepBuffer, plan: NormPlan) -> bool:
    """The usual step of a ``uniform`` plan: every gradient there, dense, of its parameter's dtype; one
    ``_foreach_norm`` over the gradients and the parameters. False (nothing added) otherwise."""
    grads = [p.grad for p in plan.params]
    dtype = plan.params[0].dtype
    if dtype not in _UNIFORM_DTYPES:  # cast since the plan was made (``model.half()``): norms in float32
        return False
    for g in grads:
        if g is None or type(g) is not torch.Tensor or g.is_sparse or g.dtype != dtype:
            return False
    try:
        with torch.no_grad():
            norms = compat.foreach_norm(grads + plan.params)
    except RuntimeError:  # moved since the plan was made (parameters on several devices): group them
        return False
    buffer.add("norms", "norms", len(norms), norms, extra=plan.full_group())
    return True


def add_loss(buffer: red.StepBuffer, loss: torch.Tensor) -> None:
    """A loss tensor (a scalar; several per step are averaged)."""
    value = loss.detach()
    if value.numel() != 1:
        value = value.float().mean()
    elif value.dim():
        value = value.reshape(())
    buffer.add("loss", "loss", 1, [value if value.dtype in (torch.float32, torch.float64) else value.float()])
