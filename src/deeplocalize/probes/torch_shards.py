"""The per-layer statistics of a sharded model (FSDP2), combined across the ranks that hold its shards.

Each rank measures its local shards (``compat.local``) of the parameters, their gradients and their updates
at a statistics step. To make them the statistics of the whole tensors, each rank publishes its vectors of
those channels (a few floats per layer) in the process group's key-value store, and combines the others'
with its own (``summary.combine``: counts add, means and second moments by weight, extremes of extremes,
norms in quadrature) once every rank has published that step, normally by the end of the next step (the
next forward's parameter all-gather waits for every rank). Every rank combines in a job of up to
``EVERY_RANK_COMBINES_UP_TO`` ranks; beyond that only rank 0, which writes the job's diagnosis. No
collective, so a rank whose statistics steps differ (its cadence densified after a finding of its own) never
leaves another waiting: a step not published by every rank within ``MAX_WAIT_STEPS`` keeps its local
figures. Activations are left per rank: each rank's are those of its own batch.
"""

from __future__ import annotations

import json

import numpy as np

from deeplocalize import summary
from deeplocalize.compat import torch as compat
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Channel

#: The channels measured on the shards of the parameters.
PARAMETER_CHANNELS = frozenset({Channel.WEIGHTS, Channel.WEIGHT_GRAD, Channel.UPDATE})
#: Steps a statistics step's record waits for every rank's shards before it is sent with its local figures.
MAX_WAIT_STEPS = 8
#: Up to this many ranks every rank combines (each reads every other rank's key: traffic grows with the
#: square of the ranks); beyond it only rank 0, which writes the job's diagnosis (own choice).
EVERY_RANK_COMBINES_UP_TO = 16


class ShardExchange:
    """Publishes this rank's shard statistics and combines every rank's, through the store (see module)."""

    def __init__(self, prefix: str, rank: int, world_size: int) -> None:
        self.prefix = prefix  # unique per watched stretch and model, the same on every rank
        self.rank = rank
        self.world_size = world_size
        self._published: list[int] = []  # this rank's steps still in the store, oldest first
        #: this rank combines the shards (else it publishes its own and keeps its local figures)
        self.combines = rank == 0 or world_size <= EVERY_RANK_COMBINES_UP_TO

    def _key(self, step: int, rank: int) -> str:
        return f"{self.prefix}/shards/{step}/{rank}"

    def publish(self, record: StepRecord) -> None:
        """Put this rank's parameter-channel vectors of ``record`` in the store."""
        store = compat.default_store()
        if store is None:
            return
        rows = {f"{layer}/{channel}": [float(v) for v in vec]
                for (layer, channel), vec in record.stats.items() if channel in PARAMETER_CHANNELS}
        store.set(self._key(record.step, self.rank), json.dumps(rows))
        self._published.append(record.step)
        while len(self._published) > 2:  # every rank has read it by now: it read it before its next step
            store.delete_key(self._key(self._published.pop(0), self.rank))

    def ready(self, step: int) -> bool:
        """Every rank has published ``step`` (a non-blocking look into the store)."""
        store = compat.default_store()
        return store is not None and bool(store.check([self._key(step, r) for r in range(self.world_size)]))

    def combine(self, record: StepRecord) -> None:
        """Replace ``record``'s parameter-channel vectors by the combination of every rank's (call when
        ``ready``); a key some rank did not measure keeps the vectors of those that did."""
        store = compat.default_store()
        theirs = [json.loads(store.get(self._key(record.step, r)))
                  for r in range(self.world_size) if r != self.rank]
        for (layer, channel), vec in list(record.stats.items()):
            if channel not in PARAMETER_CHANNELS:
                continue
            name = f"{layer}/{channel}"
            parts = [vec, *(np.asarray(other[name], dtype=np.float64) for other in theirs if name in other)]
            record.stats[(layer, channel)] = summary.combine(parts)

    def close(self) -> None:
        """Remove this rank's remaining keys (the store outlives the session)."""
        store = compat.default_store()
        for step in self._published:
            try:
                store.delete_key(self._key(step, self.rank))
            except Exception:
                continue
        self._published.clear()

