"""A down-sampled history of steps, the one rule both the trace and the store keep older steps by.

Every ``stride``-th step is kept; when more than ``size`` are kept, the stride doubles and the steps off the
new stride are let go. A run of any length is so bounded, with its whole span covered evenly, and the trace
(in memory) and the store (on disk) hold the same older steps. numpy-free, stdlib only.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class StrideHistory(Generic[T]):
    """Items by step, every ``stride``-th step kept, at most ``size`` of them (the stride doubles)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.stride = 1
        self._items: list[tuple[int, T]] = []

    def offer(self, step: int, item: T) -> list[T]:
        """Keep ``item`` when ``step`` is on the stride; returns what is let go (``item`` itself when it is
        not kept, or the items the doubled stride leaves out)."""
        if step % self.stride:
            return [item]
        self._items.append((step, item))
        if len(self._items) <= self.size:
            return []
        self.stride *= 2
        dropped = [it for s, it in self._items if s % self.stride]
        self._items = [(s, it) for s, it in self._items if s % self.stride == 0]
        return dropped

    def values(self) -> list[T]:
        """The kept items, oldest first."""
        return [it for _, it in self._items]
