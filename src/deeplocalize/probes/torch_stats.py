"""Statistics steps of the torch probe: full per-layer statistics of the parameters, their gradients and
their updates (the fused check of every step has only their norms).

Before the update: the parameters are copied (``snapshot``) and their gradients summarized; after it: the
parameters and the updates (after - before). Sharded parameters (FSDP2's ``DTensor``) are read as their
local shards. The updates of bf16/fp16 weights also count their zeros (updates rounded away: lost_updates).
"""

from __future__ import annotations

from typing import Any

import torch

from deeplocalize.compat import torch as compat
from deeplocalize.probes import torch_reduce as red
from deeplocalize.probes.torch_hooks import Mode, record
from deeplocalize.probes.torch_layers import LayerSlot, LayerTable
from deeplocalize.vocabulary import Channel

Snapshot = list[tuple[tuple[LayerSlot, Channel], torch.Tensor, torch.Tensor]]


def snapshot(table: LayerTable) -> Snapshot:
    """(update key, parameter, a copy of its local values) for every trainable dense parameter."""
    with torch.no_grad():
        return [((slot, Channel.UPDATE), p, compat.local(p).clone())
                for slot, p in table.parameters() if p.requires_grad and not p.is_sparse]


def full_grads(table: LayerTable, buffer: red.StepBuffer) -> set[LayerSlot]:
    """Record every gradient's statistics (zeros counted); returns the trainable layers none of whose
    parameters has a gradient."""
    by_key: dict[Any, list[torch.Tensor]] = {}
    trainable: set[LayerSlot] = set()
    for slot, p in table.parameters():
        g = compat.local(p.grad)
        if p.requires_grad:
            trainable.add(slot)
        if g is not None and not g.is_sparse and g.numel():
            by_key.setdefault((slot, Channel.WEIGHT_GRAD), []).append(g)
    record_full(buffer, by_key, red.Layout(zeros=True))
    return {s for s in trainable if (s, Channel.WEIGHT_GRAD) not in by_key}


def full_weights(table: LayerTable, before: Snapshot | None, buffer: red.StepBuffer) -> None:
    """Record every parameter's statistics after the update, and its update against ``before``."""
    by_key: dict[Any, list[torch.Tensor]] = {}
    for slot, p in table.parameters():
        if not p.is_sparse and p.numel():
            by_key.setdefault((slot, Channel.WEIGHTS), []).append(compat.local(p))
    with torch.no_grad():
        moved = [(key, compat.local(p), old) for key, p, old in (before or [])]
        moved = [(key, p, old) for key, p, old in moved if p.shape == old.shape and p.device == old.device]
        low: dict[Any, list[torch.Tensor]] = {}  # low-precision weights: their zero updates are counted
        for key, p, old in moved:
            (low if p.dtype in red.LOW_PRECISION else by_key).setdefault(key, []).append(p - old)
        record_full(buffer, by_key, red.Layout())
        record_full(buffer, low, red.Layout(zeros=True))


def record_full(buffer: red.StepBuffer, by_key: dict[Any, list[torch.Tensor]], layout: red.Layout) -> None:
    """Full statistics, one flat tensor per key (a layer's kernel and bias together) when alike."""
    for key, ts in by_key.items():
        if len(ts) > 1 and all(t.device == ts[0].device and t.dtype == ts[0].dtype for t in ts):
            ts = [compat.flatten([t.detach() for t in ts])]
        for t in ts:
            record(buffer, key, t, Mode.STATS, layout)
