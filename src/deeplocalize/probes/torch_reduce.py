"""On-device reductions of torch tensors, and the per-step buffer that reaches the host in one transfer.

Every observed tensor is reduced where it lives to a few 0-dim tensors ("scalars") or, for parameter
groups, one vector of norms; nothing is read on the host until ``StepBuffer.fetch`` concatenates all of the
step's numbers into one tensor per device and copies it once. The host turns them into ``summary.STATS``.

What the collector computes (see ``torch_collector``):
- every step: ``group_norms`` over all parameter gradients and all parameters (one ``_foreach_norm`` per
  device/dtype group). A finite norm proves every element finite; with a finite loss this is the
  cheap-step NaN/Inf check. Activations and output gradients are only kept by reference;
- full-statistics steps: ``stat_scalars`` (min, max, sum, sum of squares, non-zero count) per tensor,
  + dead units, + saturated elements. The non-finite count is *not* computed: a finite sum and sum of
  squares prove it is 0;
- only on a step where one of those numbers is NaN/Inf: ``exact_counts`` of every kept tensor (a second,
  rare host transfer) to localize the producing layer.

Cost choices, measured on this machine's CPU for a 700k-element float32 tensor (1 thread): comparisons that
produce bool tensors (``isfinite``: ~1.4 ms, ``!= 0``: ~0.7 ms, ``count_nonzero``: ~3 ms) are far slower
than float arithmetic and reductions (``sum``: ~35 µs, ``dot``: ~55 µs, ``aminmax``: ~75 µs; ``var_mean``
and an L0 norm: ~3.5 ms). So the exact non-finite count is ``nan_to_num_(x * 0, nan=1).sum()`` (x * 0 is
NaN exactly where x is NaN/±Inf) and the non-zero count is ``abs(x).sign_().sum()`` (~170 µs).
Statistics other than the count are reported only for tensors without NaN/Inf; on a non-finite tensor
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
#: Number of scalars of ``stat_scalars``: min, max, sum, sumsq, nonzero (no count).
FUSED = 5


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


def finite_flag(x: torch.Tensor) -> torch.Tensor | None:
    """0-dim flag, one pass: the sum, NaN/±Inf iff the tensor holds a NaN/±Inf (or overflows; rare);
    None for integer tensors (always finite). Low precision sums in float32, so fp16 does not overflow."""
    if not x.is_floating_point():
        return None
    v = x.detach()
    return v.sum(dtype=torch.float32) if v.dtype in _LOW_PRECISION else v.sum()


def stat_scalars(x: torch.Tensor, zeros: bool = True) -> list[torch.Tensor]:
    """Fused statistics of a non-empty tensor without the count: [min, max, sum, sumsq, nonzero].

    The first four are finite iff the tensor holds no NaN/Inf (barring float overflow of the sums, which
    only costs an exact recount): the count is then 0 and needs no pass of its own. ``zeros=False`` skips
    the non-zero count (the costliest pass, ~45%; its slot is then NaN: zero_frac not measured).
    """
    v = _flat(x)
    lo, hi = torch.aminmax(v)
    nonzero = v.abs().sign_().sum() if zeros else torch.full((), math.nan, device=v.device)
    return [lo, hi, v.sum(), torch.dot(v, v), nonzero]


def group_norms(tensors: Sequence[torch.Tensor]) -> list[tuple[list[int], torch.Tensor]]:
    """L2 norms of many tensors, one ``_foreach_norm`` per (device, dtype) group: [(positions, norms)].

    ``norms`` is a 1-D tensor on the group's device (float32 or wider); ``positions`` index ``tensors``.
    """
    groups: dict[tuple[Any, Any], list[int]] = {}
    for i, t in enumerate(tensors):
        groups.setdefault((t.device, t.dtype), []).append(i)
    out = []
    for (_device, dtype), pos in groups.items():
        members = [tensors[i] for i in pos]
        if dtype in _LOW_PRECISION:
            norms = torch._foreach_norm(members, 2, dtype=torch.float32)
        elif dtype.is_floating_point or dtype.is_complex:
            norms = torch._foreach_norm(members)
        else:
            norms = [m.float().norm() for m in members]
        out.append((pos, torch.stack(norms)))
    return out


def exact_counts(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Exact non-finite counts (0-dim float32) of floating tensors; the fault path only."""
    return [nonfinite_count(t) if t.is_floating_point() and t.numel() else torch.zeros((), device=t.device)
            for t in tensors]


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
    vec[summary.ZERO_FRAC] = 1.0 - nonzero / numel  # NaN when not measured
    return vec


def summary_from_stats(numel: int, count: float, vals: Sequence[float]) -> np.ndarray:
    """Host side: a ``summary.STATS`` vector from a count and the scalars of ``stat_scalars``."""
    return summary_from_full(numel, [count, *vals[:FUSED]])


_EMPTY = summary.empty()


def summary_from_count(numel: int, count: float) -> np.ndarray:
    """Host side: a vector with only numel and the non-finite count measured."""
    vec = _EMPTY.copy()
    vec[summary.NUMEL] = numel
    vec[summary.NONFINITE] = round(float(count))
    return vec


@dataclass(slots=True)
class Entry:
    """One observation in a step: what it is (key, kind), the tensor size, where its numbers are."""

    key: Hashable
    kind: str
    numel: int
    device: Any
    start: int
    length: int
    extra: Any = None
    vector: int = -1  # index among the device's vectors (``add_vector``), or -1 for scalars


class StepBuffer:
    """Collects the numbers of one step; ``fetch`` copies them to the host once per device."""

    def __init__(self) -> None:
        self._groups: dict[Any, list[torch.Tensor]] = {}
        self._vectors: dict[Any, list[torch.Tensor]] = {}
        self.entries: list[Entry] = []
        self.finite = True  # after ``fetch``: every fetched number is finite (no NaN/Inf anywhere)

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, key: Hashable, kind: str, numel: int, scalars: Sequence[torch.Tensor] = (),
            extra: Any = None) -> None:
        """Record an observation; ``scalars`` are 0-dim tensors on one device (may be empty)."""
        device = scalars[0].device if scalars else None
        group = self._groups.setdefault(device, []) if scalars else []
        self.entries.append(Entry(key, kind, numel, device, len(group), len(scalars), extra))
        group.extend(scalars)

    def add_vector(self, key: Hashable, kind: str, vector: torch.Tensor, extra: Any = None) -> None:
        """Record a 1-D tensor of numbers (e.g. the norms of a parameter group)."""
        vectors = self._vectors.setdefault(vector.device, [])
        self.entries.append(Entry(key, kind, vector.numel(), vector.device, 0, vector.numel(), extra,
                                  len(vectors)))
        vectors.append(vector.reshape(-1))

    def fetch(self) -> list[tuple[Entry, np.ndarray]]:
        """Every entry with its numbers as float64: one concatenation and one host copy per device."""
        host: dict[Any, np.ndarray] = {}
        offsets: dict[Any, list[int]] = {}
        for device in {*self._groups, *self._vectors}:
            scalars = self._groups.get(device, [])
            vectors = self._vectors.get(device, [])
            parts = ([torch.stack(scalars)] if scalars else []) + vectors
            if not parts:
                continue
            flat = parts[0] if len(parts) == 1 else torch.cat(parts)
            host[device] = flat.to("cpu", torch.float64).numpy()
            self.finite = self.finite and bool(np.isfinite(host[device]).all())
            pos, offs = len(scalars), []
            for vec in vectors:
                offs.append(pos)
                pos += vec.numel()
            offsets[device] = offs
        empty = np.zeros(0)
        out = []
        for entry in self.entries:
            if not entry.length:
                out.append((entry, empty))
                continue
            start = entry.start if entry.vector < 0 else offsets[entry.device][entry.vector]
            out.append((entry, host[entry.device][start:start + entry.length]))
        return out
