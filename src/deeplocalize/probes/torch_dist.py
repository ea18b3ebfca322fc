"""A torch.distributed job (``torchrun``, DDP, FSDP): this process's rank, and the agreement between ranks.

Every rank is watched by its own session. At each optimizer step, before the update, the ranks agree with
one ``all_gather`` of two numbers per rank (this rank wants to stop; this rank's own loss or forward pass
made a NaN/Inf), so that:
- a fault confirmed on any rank stops every rank at the same step, before that step's update, and no rank
  is left waiting in a collective (a rank that stopped alone would hang the others in DDP's next
  all-reduce);
- a NaN that DDP's gradient all-reduce spread to every rank is told from its origin: the ranks whose own
  loss or forward was non-finite.
When the ranks stop, they share their fault findings (``all_gather_object``), so each rank's diagnosis,
and rank 0's report, covers the job. Cost: one small collective per optimizer step (docs/distributed.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from deeplocalize.ranks import env_rank


@dataclass
class Agreement:
    """What the ranks said at one step: who wants to stop, whose own computation made a NaN/Inf."""

    stop: list[int] = field(default_factory=list)
    origin: list[int] = field(default_factory=list)


class Job:
    """This process's place in a distributed job (read from the default process group when it exists)."""

    def __init__(self) -> None:
        self.rank, self.world_size = env_rank()

    def active(self) -> bool:
        """A process group of more than one rank is up now (it may be created and destroyed by the
        script at any time, so this is asked at every step: a cheap check)."""
        if not (dist.is_available() and dist.is_initialized()):
            return False
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        return self.world_size > 1

    def _device(self) -> torch.device:
        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def agree(self, stop: bool, origin: bool) -> Agreement:
        """Every rank's two flags (a collective: every rank must call it at the same point)."""
        mine = torch.tensor([float(stop), float(origin)], device=self._device())
        everyone = [torch.empty_like(mine) for _ in range(self.world_size or 1)]
        dist.all_gather(everyone, mine)
        flags = torch.stack(everyone).cpu().tolist()
        return Agreement(stop=[r for r, (s, _) in enumerate(flags) if s],
                         origin=[r for r, (_, o) in enumerate(flags) if o])

    def share(self, payload: Any) -> list[Any]:
        """Every rank's ``payload`` (picklable), in rank order (a collective)."""
        out: list[Any] = [None] * (self.world_size or 1)
        dist.all_gather_object(out, payload)
        return out
