"""The dataset indices of the batch a ``DataLoader`` handed out last, for ``--dump-on-fault`` dumps.

While a session with a dump directory is active, the DataLoader iterators' ``_next_index`` (which draws
a batch's indices from its sampler) is wrapped to remember them. In a single-process DataLoader
(``num_workers=0``) the indices drawn are those of the batch returned next, so a step's dump names its
samples; with worker processes the indices are drawn ahead of the batches returned, and none are given.
An iterable dataset has no indices. The wrapper never changes what the sampler returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deeplocalize.compat import torch as compat

#: A batch with more indices than this is not recorded (own choice: a dump is for looking at).
MAX_INDICES = 100_000


class SampleIndices:
    """The indices of the last batch drawn by a single-process DataLoader (``last``; None: unknown)."""

    def __init__(self) -> None:
        self.last: list[int] | None = None

    def install(self, patch: compat.Patch) -> None:
        patch.replace(compat.dataloader_iter(), "_next_index", self._wrap)

    def _wrap(self, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        tracker = self

        def _next_index(iterator: Any) -> Any:
            index = original(iterator)
            try:
                single = getattr(iterator, "_num_workers", 1) == 0
                tracker.last = as_indices(index) if single else None
            except Exception:  # never into the data pipeline
                tracker.last = None
            return index

        return _next_index


def as_indices(index: Any) -> list[int] | None:
    """A sampler's output as a list of ints (one int: a batch of one); None for anything else."""
    if isinstance(index, int):
        return [index]
    if hasattr(index, "tolist"):
        index = index.tolist()
    fits = isinstance(index, list | tuple) and len(index) <= MAX_INDICES
    if fits and all(isinstance(i, int) for i in index):
        return list(index)
    return None


#: The process's tracker (one batch stream per training process).
TRACKER = SampleIndices()
