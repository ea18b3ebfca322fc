"""On-device reductions of torch tensors, and the per-step buffer that reaches the host in one transfer.

Every observed tensor is reduced where it lives to a few 0-dim tensors ("scalars"); nothing is read on the
host until ``StepBuffer.fetch`` stacks all scalars of the step into one tensor per device and copies it
once. The host then turns the scalars into ``summary.STATS`` vectors.

Two reduction levels:
- *count*: the number of NaN/±Inf elements only (every step; keeps NaN latency at 0 steps);
- *full*: count, min, max, sum, sum of squares, non-zero count (+ dead units, + saturated elements).

Cost choices, measured on this machine's CPU for a 400k-element float32 tensor (1 thread): comparisons that
produce bool tensors (``isfinite``: ~900 µs, ``== 0``: ~350 µs, ``count_nonzero`` on sparse ReLU outputs:
up to 3 ms) are far slower than float arithmetic and reductions (``sum``: 25–50 µs, ``aminmax``: ~60 µs).
So the non-finite count is ``nan_to_num_(x * 0, nan=1).sum()`` (x * 0 is NaN exactly where x is NaN/±Inf)
and the non-zero count is ``abs(x).sign_().sum()``. Statistics other than the count (min, max, mean, std,
norm, zero/dead/saturated fractions) are reported only for tensors without NaN/Inf; on a non-finite tensor
they are NaN ("not measured"): the count localizes the fault, the previous steps show how it built up.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from deeplocalize import summary

_LOW_PRECISION = (torch.float16, torch.bfloat16)

#: Number of scalars of a full reduction: count, min, max, sum, sumsq, nonzero.
FULL = 6


def _flat(x: torch.Tensor) -> torch.Tensor:
    v = x.detach().reshape(-1)
    if v.dtype in _LOW_PRECISION or not v.is_floating_point():
        v = v.float()
    return v


def nonfinite_count(x: torch.Tensor) -> torch.Tensor:
    """0-dim tensor: how many elements of a floating tensor are NaN or ±Inf (exact small counts)."""
    return (x.detach() * 0).nan_to_num_(nan=1.0).sum(dtype=torch.float32)


def full_scalars(x: torch.Tensor) -> list[torch.Tensor]:
    """Scalars of a full reduction of a non-empty tensor: [count, min, max, sum, sumsq, nonzero]."""
    v = _flat(x)
    count = nonfinite_count(v) if x.is_floating_point() else torch.zeros((), device=v.device)
    lo, hi = torch.aminmax(v)
    return [count, lo, hi, v.sum(), torch.dot(v, v), v.abs().sign_().sum()]


def dead_units(x: torch.Tensor, unit_axis: int) -> torch.Tensor:
    """0-dim: number of units (entries of ``unit_axis``) that are <= 0 for every sample."""
    x = x.detach()
    if x.dim() <= 1:
        return (x <= 0).sum()
    axis = unit_axis % x.dim()
    others = tuple(d for d in range(x.dim()) if d != axis)
    return (x.amax(dim=others) <= 0).sum()


def saturated_count(x: torch.Tensor, band: tuple[float, float]) -> torch.Tensor:
    """0-dim: number of elements outside the open band (low, high), i.e. <= low or >= high."""
    low, high = band
    v = _flat(x)
    return (v <= low).sum() + (v >= high).sum()


def summary_from_full(numel: int, vals: Sequence[float]) -> np.ndarray:
    """Host side: a ``summary.STATS`` vector from the scalars of ``full_scalars``."""
    vec = summary.empty()
    vec[summary.NUMEL] = numel
    count, lo, hi, total, sumsq, nonzero = (float(v) for v in vals[:FULL])
    vec[summary.NONFINITE] = round(count)
    if count != 0 or numel == 0:
        return vec
    mean = total / numel
    vec[summary.MIN], vec[summary.MAX], vec[summary.MEAN] = lo, hi, mean
    var = 0.0 if lo == hi else max(sumsq / numel - mean * mean, 0.0)
    vec[summary.STD] = math.sqrt(var)
    vec[summary.NORM] = math.sqrt(max(sumsq, 0.0))
    vec[summary.ZERO_FRAC] = 1.0 - nonzero / numel
    return vec


def summary_from_count(numel: int, count: float) -> np.ndarray:
    """Host side: a vector with only numel and the non-finite count measured."""
    vec = summary.empty()
    vec[summary.NUMEL] = numel
    vec[summary.NONFINITE] = round(float(count))
    return vec


@dataclass
class Entry:
    """One observation in a step: what it is (key, kind), the tensor size, where its scalars are."""

    key: Hashable
    kind: str
    numel: int
    device: Any
    start: int
    length: int
    extra: Any = None


class StepBuffer:
    """Collects the scalars of one step; ``fetch`` copies them to the host once per device."""

    def __init__(self) -> None:
        self._groups: dict[Any, list[torch.Tensor]] = {}
        self.entries: list[Entry] = []

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, key: Hashable, kind: str, numel: int, scalars: Sequence[torch.Tensor] = (),
            extra: Any = None) -> None:
        """Record an observation; ``scalars`` are 0-dim tensors on one device (may be empty)."""
        device = scalars[0].device if scalars else None
        group = self._groups.setdefault(device, []) if scalars else []
        self.entries.append(Entry(key, kind, numel, device, len(group), len(scalars), extra))
        group.extend(scalars)

    def fetch(self) -> list[tuple[Entry, np.ndarray]]:
        """Every entry with its scalars as float64 numbers: one stack and one host copy per device."""
        host: dict[Any, np.ndarray] = {}
        for device, scalars in self._groups.items():
            if scalars:
                host[device] = torch.stack(scalars).to("cpu", torch.float64).numpy()
        empty = np.zeros(0)
        out = []
        for entry in self.entries:
            vals = host[entry.device][entry.start:entry.start + entry.length] if entry.length else empty
            out.append((entry, vals))
        return out
