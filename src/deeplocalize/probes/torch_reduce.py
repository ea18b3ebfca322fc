"""On-device reductions of torch tensors, and the per-step buffer that reaches the host in one transfer.

Every observed tensor is reduced where it lives to a few 0-dim tensors ("scalars"; for parameter groups,
the norms of one ``_foreach_norm``); nothing is read on the host until ``StepBuffer.fetch`` stacks all of
the step's numbers into one tensor per device and copies it once. The host turns them into ``summary.STATS``.

What is computed (see ``torch_check``, ``torch_hooks`` and ``torch_replay``):
- every step: ``group_norms`` over all parameter gradients and all parameters (one ``_foreach_norm`` per
  device/dtype group), with the losses and accuracy counts. A finite norm proves every element finite: the
  every-step NaN/Inf check;
- statistics steps: ``stat_scalars`` per tensor, only what the detectors read (``Layout``): min, max, sum
  and sum of squares of outputs, weights and updates (+ dead units, + saturated elements); sum and sum of
  squares of output gradients; + the non-zero count of weight gradients and ReLU-family outputs. The
  non-finite count is *not* computed: finite sums prove it is 0;
- a replay of a faulty step (and the per-layer flags after one it could not reproduce): ``nonfinite_count``
  (``finite_flag``) of every layer input, output and output gradient.

Cost choices, measured on this machine's CPU for a 700k-element float32 tensor (1 thread): comparisons that
produce bool tensors (``isfinite``: ~1.4 ms, ``!= 0``: ~0.7 ms, ``count_nonzero``: ~3 ms) are far slower
than float arithmetic and reductions (``sum``: ~35 µs, ``dot``: ~55 µs, ``aminmax``: ~75 µs; ``var_mean``
and an L0 norm: ~3.5 ms). So the exact non-finite count is ``nan_to_num_(x * 0, nan=1).sum()`` (x * 0 is
NaN exactly where x is NaN/±Inf), the non-zero count is ``abs(x).sign_().sum()`` (~170 µs) and the
saturated count clamps into the band and counts the edges with a product (~350 µs vs ~2.2 ms compared).
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
from deeplocalize.compat import torch as compat

#: Floating dtypes summed in float32 (and whose weights' updates can be rounded away: lost_updates).
LOW_PRECISION = (torch.float16, torch.bfloat16)

def _flat(x: torch.Tensor) -> torch.Tensor:
    """``x`` as a flat float tensor outside autograd (ops only where needed: each costs between kernels)."""
    v = x.detach() if x.requires_grad else x
    if v.dim() != 1:
        v = v.reshape(-1)
    if v.dtype in LOW_PRECISION or not v.is_floating_point():
        v = v.float()
    return v


def nonfinite_count(x: torch.Tensor) -> torch.Tensor:
    """0-dim tensor: how many elements of a floating tensor are NaN or ±Inf (exact small counts)."""
    return (x.detach() * 0).nan_to_num_(nan=1.0).sum(dtype=torch.float32)


def finite_flag(x: torch.Tensor) -> torch.Tensor | None:
    """0-dim flag, one pass: the sum, NaN/±Inf iff the tensor holds a NaN/±Inf (or overflows; rare);
    None for integer tensors (always finite). Low precision sums in float32, so fp16 does not overflow."""
    if not x.is_floating_point():
        return None
    v = x.detach()
    return v.sum(dtype=torch.float32) if v.dtype in LOW_PRECISION else v.sum()


@dataclass(frozen=True, slots=True)
class Layout:
    """Which statistics a full reduction computes: [min, max] if ``extremes``, sum, sum of squares,
    [non-zero count] if ``zeros``. Each pass over the tensor costs about the same, so a channel computes
    only what the detectors read (the probe picks a layout per channel)."""

    extremes: bool = True
    zeros: bool = False
    nonnegative: bool = False  # the tensor is never negative (ReLU, ReLU6 outputs): zeros counted in 2 passes


    @property
    def width(self) -> int:
        return 2 + 2 * self.extremes + self.zeros


def stat_scalars(x: torch.Tensor, layout: Layout = Layout()) -> list[torch.Tensor]:
    """Statistics of a non-empty tensor, as ``layout`` says: [min, max,] sum, sumsq[, nonzero].

    They are finite iff the tensor holds no NaN/Inf (barring float overflow of the sums, which only costs
    an exact recount): the non-finite count is then 0 and needs no pass of its own.
    """
    v = _flat(x)
    out = list(torch.aminmax(v)) if layout.extremes else []
    out += [v.sum(), torch.dot(v, v)]
    if layout.zeros:
        out.append((v.sign() if layout.nonnegative else v.abs().sign_()).sum())
    return out


def group_norms(tensors: Sequence[torch.Tensor]) -> list[tuple[list[int], list[torch.Tensor]]]:
    """L2 norms of many tensors, one ``_foreach_norm`` per (device, dtype) group: [(positions, norms)].

    ``norms`` are 0-dim tensors on the group's device (float32 or wider); ``positions`` index ``tensors``.
    """
    groups: dict[tuple[Any, Any], list[int]] = {}
    for i, t in enumerate(tensors):
        groups.setdefault((t.device, t.dtype), []).append(i)
    out = []
    for (_device, dtype), pos in groups.items():
        members = [tensors[i] for i in pos]
        if dtype in LOW_PRECISION:
            norms = compat.foreach_norm(members, dtype=torch.float32)
        elif dtype.is_floating_point or dtype.is_complex:
            norms = compat.foreach_norm(members)
        else:
            norms = [m.float().norm() for m in members]
        out.append((pos, list(norms)))
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
    # Float ops only (a bool comparison pass costs ~10x a float pass on CPU): after clamping into [low, high],
    # (c - low) * (c - high) is exactly 0 at the edges (values <= low or >= high) and negative inside.
    c = v.clamp(low, high)
    inside = (c - low).mul_(c.sub_(high)).sign_().sum()  # -1 per element strictly inside the band
    return inside.add_(v.numel())


def summary_from_stats(numel: int, count: float, vals: Sequence[float],
                       layout: Layout = Layout()) -> np.ndarray:
    """Host side: a ``summary.STATS`` vector from a non-finite count and the scalars of ``stat_scalars``
    (statistics the layout leaves out, and all but the count of a non-finite tensor, stay NaN)."""
    vec = summary.empty()
    vec[summary.NUMEL] = numel
    vec[summary.NONFINITE] = round(float(count))
    if count != 0 or numel == 0:
        return vec
    pos = 0
    lo = hi = math.nan
    if layout.extremes:
        lo, hi = float(vals[0]), float(vals[1])
        vec[summary.MIN], vec[summary.MAX] = lo, hi
        pos = 2
    total, sumsq = float(vals[pos]), float(vals[pos + 1])
    mean = total / numel
    vec[summary.MEAN] = mean
    var = 0.0 if lo == hi else max(sumsq / numel - mean * mean, 0.0)
    vec[summary.STD] = math.sqrt(var)
    vec[summary.NORM] = math.sqrt(max(sumsq, 0.0))
    if layout.zeros:
        vec[summary.ZERO_FRAC] = 1.0 - float(vals[pos + 2]) / numel
    return vec


@dataclass(slots=True)
class Entry:
    """One observation in a step: what it is (key, kind), the tensor size, where its numbers are."""

    key: Hashable
    kind: str
    numel: int
    start: int  # index of its first number among the step's numbers
    length: int
    extra: Any = None


class StepBuffer:
    """Collects the numbers of one step (0-dim device tensors); they reach the host in one copy per device.

    ``add`` appends an observation (an ``Entry``) and its numbers. ``fetch_all`` (or ``start_copy`` then
    ``finish_copy``, which lets a CUDA copy run behind the kernels) brings every number added so far to the
    host; numbers added afterwards are brought by the next fetch, so a step may be read more than once
    (the check before the update, then the end of the step).
    """

    def __init__(self) -> None:
        self.scalars: list[torch.Tensor] = []  # added since the last copy
        self.entries: list[Entry] = []
        self.finite = True  # after ``finish_copy``: every number copied so far is finite
        self._base = 0  # how many numbers are on the host
        self._host: np.ndarray = _NO_VALUES
        self._staged: list[tuple[torch.Tensor, Any, np.ndarray | None]] = []
        self._new: np.ndarray = _NO_VALUES

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, key: Hashable, kind: str, numel: int, scalars: Sequence[torch.Tensor] = (),
            extra: Any = None) -> None:
        """Record an observation; ``scalars`` are 0-dim tensors (may be empty)."""
        self.entries.append(Entry(key, kind, numel, self._base + len(self.scalars), len(scalars), extra))
        self.scalars.extend(scalars)

    def _parts(self) -> list[tuple[torch.Tensor, np.ndarray | None]]:
        """The new numbers as one flat tensor per device, with their positions (None: all, in order)."""
        try:  # the common case: one device, one stack
            return [(torch.stack(self.scalars), None)]
        except RuntimeError:  # tensors on several devices
            pass
        groups: dict[Any, tuple[list[torch.Tensor], list[int]]] = {}
        for pos, t in enumerate(self.scalars):
            tensors, positions = groups.setdefault(t.device, ([], []))
            tensors.append(t)
            positions.append(pos)
        return [(torch.stack(ts), np.asarray(ps)) for ts, ps in groups.values()]

    def start_copy(self, force_async: bool | None = None) -> bool:
        """Start the copy of the new numbers to the host, once per device. Returns True when a copy is still
        in flight (a CUDA device: into pinned memory, behind the step's kernels; or ``force_async``), so
        that ``finish_copy`` must wait for it."""
        n = len(self.scalars)
        parts = self._parts() if n else []
        self._new = np.empty(n)
        self._staged = []
        for flat, positions in parts:
            if flat.is_cuda and force_async is not False:
                host = torch.empty(flat.shape, dtype=torch.float64, pin_memory=True)
                host.copy_(flat.to(torch.float64), non_blocking=True)
                done = torch.cuda.Event()
                done.record(torch.cuda.current_stream(flat.device))
                self._staged.append((host, done, positions))
            else:  # float64 on the host: a numpy conversion costs less than a torch op between kernels
                if flat.dtype not in (torch.float32, torch.float64):
                    flat = flat.to(torch.float64)
                self._place(np.asarray(flat.cpu().numpy(), dtype=np.float64), positions)
        return bool(self._staged) or bool(force_async)

    def _place(self, values: np.ndarray, positions: np.ndarray | None) -> None:
        if positions is None:
            self._new = values
        else:
            self._new[positions] = values

    def finish_copy(self) -> None:
        """Wait for the copies in flight; afterwards ``finite`` and ``values`` are available. The device
        tensors are released."""
        for host, done, positions in self._staged:
            done.synchronize()
            self._place(host.numpy(), positions)
        self._staged = []
        new, self._new = self._new, _NO_VALUES
        self._host = new if not self._base else np.concatenate([self._host, new])
        self._base += len(self.scalars)
        self.scalars = []
        self.finite = bool(np.isfinite(self._host).all())

    def fetch_all(self) -> None:
        """Copy the numbers added so far to the host now and wait (``values``, ``finite`` available)."""
        if self.scalars:  # nothing new (an ordinary step's end): nothing to copy
            self.start_copy(force_async=False)
            self.finish_copy()

    def values(self, entry: Entry) -> np.ndarray:
        """An entry's numbers (after a fetch that covered it)."""
        if not entry.length:
            return _NO_VALUES
        return self._host[entry.start:entry.start + entry.length]

    def fetch(self) -> list[tuple[Entry, np.ndarray]]:
        """The step's numbers to the host, waited for, then every entry with its numbers."""
        self.fetch_all()
        return [(entry, self.values(entry)) for entry in self.entries]


_NO_VALUES = np.zeros(0)
