"""A torch.distributed job (``torchrun``, DDP, FSDP): this process's rank, and the agreement between ranks.

Every rank is watched by its own session. Before the optimizer updates, every ``rank_agree_every`` steps
and at once at a step whose DDP gradients are non-finite (every rank sees those at the same step), the
ranks agree with one ``all_gather`` of four numbers per rank (this rank wants to stop; this rank's own loss
or forward pass made its first NaN/Inf; a checksum of its replica's per-layer weight norms; this rank has
faults the others have not been told of), so that:
- a fault confirmed on any rank stops every rank at the same step, and no rank is left waiting in a
  collective (a rank that stopped alone would hang the others in DDP's next all-reduce);
- a NaN that DDP's gradient all-reduce spread to every rank is told from its origin: the ranks whose own
  loss or forward was non-finite;
- replicas that drifted apart (a DDP model whose weights differ between ranks) are a ``rank_desync`` fault
  at the first layer that differs (the per-layer norms are then shared to find it).
When the ranks stop, or some rank has a new fault, they share their fault findings
(``all_gather_object``), so each rank's diagnosis, and rank 0's report, covers the job's faults. Cost:
docs/distributed.md.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from deeplocalize import causes as cw
from deeplocalize import fixes, summary
from deeplocalize.compat import torch as compat
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.errors import RankLostError
from deeplocalize.monitor import Monitor
from deeplocalize.probes.torch_record import Measured
from deeplocalize.ranks import env_rank
from deeplocalize.vocabulary import Category, Channel, OnFault, Phase, Severity, Symptom

if TYPE_CHECKING:
    from deeplocalize.probes.torch_unit import ModelUnit


@dataclass
class Agreement:
    """What the ranks said at one step: who wants to stop, whose own computation made a NaN/Inf, and
    whether the replicas' weight checksums differ (every rank reads the same answer)."""

    stop: list[int] = field(default_factory=list)
    origin: list[int] = field(default_factory=list)
    desynced: bool = False
    fresh: list[int] = field(default_factory=list)  # ranks with faults the others have not been told of


#: Replicas whose weight checksums differ by more than this (relative) have drifted apart: DDP keeps them
#: bit-identical, so any difference is a desync; the margin only absorbs float64 summation order.
DESYNC_RTOL = 1e-12


def weight_checksum(norms: dict[int, float]) -> float:
    """One number per replica from its per-layer weight norms (each weighted by its layer's position, so a
    change that moves norms between layers still shows)."""
    return math.fsum((index + 1) * norm for index, norm in sorted(norms.items()))


def first_desynced_layer(per_rank: list[dict[int, float]]) -> tuple[int, list[int]] | None:
    """The first layer (forward order) whose weight norm differs between ranks, and the ranks whose norm
    differs from rank 0's."""
    base = per_rank[0]
    for index in sorted(base):
        off = [r for r, norms in enumerate(per_rank) if norms.get(index) != base[index]]
        if off:
            return index, off
    return None


def desync_finding(monitor: Monitor, step: int, index: int, ranks: list[int]) -> Finding:
    """The fault of replicas that drifted apart: named at the first layer whose weights differ."""
    model = monitor.model
    info = model.layer(index)
    ref = None if info is None else info.ref
    name = f"`{ref.name}`" if ref is not None else f"layer {index}"
    which = ", ".join(str(r) for r in ranks)
    return Finding(Symptom.RANK_DESYNC, Phase.WEIGHTS, ref, step,
                   f"the weights of {name} on rank {which} differ from rank 0's at step {step}: the "
                   "replicas of a data-parallel model have drifted apart", evidence={"ranks": ranks},
                   causes=[CauseHint(Category.TRAINING, cw.RANK_DESYNC,
                                     fixes.resync_ranks(model, monitor.trace, ref),
                                     ref)])


def replicated_grads_nonfinite(replicated: bool, checked: Measured | None) -> bool:
    """The model is ``replicated`` by DDP (its gradients are averaged over every rank before the update)
    and the step's checked gradients are non-finite: every rank of the job sees it at this same step."""
    if checked is None or not replicated:
        return False
    return any(type(key) is tuple and key[-1] == Channel.WEIGHT_GRAD and not summary.is_finite(vector)
               for key, vector in checked.stats.items())


def replica_weight_norms(replicated: bool, checked: Measured | None) -> dict[int, float] | None:
    """Per layer, the norm of its weights at the step's check, when the model is ``replicated`` by DDP
    (every rank holds the same weights, so these are equal on every rank); else None."""
    if checked is None or not replicated:
        return None
    norms = {key[0]: float(vector[summary.NORM]) for key, vector in checked.stats.items()
             if type(key) is tuple and key[-1] == Channel.WEIGHTS and type(key[0]) is int}
    return norms or None


_SESSIONS = itertools.count()


class Job:
    """This process's place in a distributed job (read from the default process group when it exists)."""

    def __init__(self) -> None:
        self.rank, self.world_size = env_rank()
        self.session = next(_SESSIONS)  # the n-th watched stretch of this process: the same on every rank
        self.everyone: bool | None = None  # every rank watches this stretch (None: not asked yet)
        self.leader: str | None = None  # where rank 0 stores its run (its recorder's job_key), once known
        self.told: set[tuple] = set()  # the keys of this rank's faults the other ranks have been given

    def everyone_watches(self, timeout_s: float, publish: str | None = None) -> bool:
        """Every rank of the job is watched by a session of the same number: asked once, through the process
        group's key-value store (no collective: a rank that does not watch cannot be left waiting in one).
        Each watching rank sets its key and waits up to ``timeout_s`` for the others'. Rank 0 also
        ``publish``es where its run is stored; every rank reads it into ``leader``."""
        if self.everyone is None:
            self.everyone = self._handshake(timeout_s, publish)
        return self.everyone

    def _key(self, what: str, rank: int | None) -> str:
        return f"deeplocalize/session{self.session}/{what}{rank}"

    def heartbeat(self, step: int) -> None:
        """This rank reached ``step``'s agreement (a key in the store: what a lost rank is last known by)."""
        store = compat.default_store()
        if store is not None:
            store.set(self._key("step", self.rank), str(step))

    def lost_ranks(self, wait_s: float) -> dict[int, int | None]:
        """After a collective failed: the ranks that do not answer within ``wait_s`` (each surviving rank
        sets its key and waits for the others'), with the step of their last agreement (None: unknown).
        Empty when every rank answers, or when the store itself is gone."""
        store = compat.default_store()
        if store is None or not self.world_size:
            return {}
        try:
            store.set(self._key("alive", self.rank), "1")
            deadline = time.monotonic() + wait_s
            missing = set(range(self.world_size))
            while missing and time.monotonic() < deadline:
                missing = {r for r in missing if not store.check([self._key("alive", r)])}
                if missing:
                    time.sleep(0.1)
            return {r: self._last_step(store, r) for r in sorted(missing)}
        except Exception:  # the store is gone with the job
            return {}

    def _last_step(self, store: Any, rank: int) -> int | None:
        key = self._key("step", rank)
        return int(store.get(key)) if store.check([key]) else None

    def _handshake(self, timeout_s: float, publish: str | None) -> bool:
        store = compat.default_store()
        if store is None or self.rank is None or not self.world_size:
            return False
        prefix = f"deeplocalize/session{self.session}/rank"
        run_key = self._key("run", 0)
        try:
            if self.rank == 0 and publish:  # before its rank key: set once every rank is seen
                store.set(run_key, publish)
            store.set(f"{prefix}{self.rank}", "1")
            store.wait([f"{prefix}{r}" for r in range(self.world_size)], timedelta(seconds=timeout_s))
        except Exception:  # the store's timeout (DistStoreError), or it is gone
            return False
        try:
            if store.check([run_key]):
                self.leader = bytes(store.get(run_key)).decode()
        except Exception:  # where the job is stored is a nicety: the job is still watched
            self.leader = None
        return True

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

    def agree(self, stop: bool, origin: bool, checksum: float = math.nan, fresh: bool = False) -> Agreement:
        """Every rank's three flags and weight checksum (NaN: none; a collective: every rank must call it at
        the same point). Replicas are in sync when every rank's finite checksum is the same."""
        mine = torch.tensor([float(stop), float(origin), checksum, float(fresh)], dtype=torch.float64,
                            device=self._device())
        everyone = [torch.empty_like(mine) for _ in range(self.world_size or 1)]
        dist.all_gather(everyone, mine)
        rows = torch.stack(everyone).cpu().tolist()
        sums = [row[2] for row in rows]
        desynced = all(math.isfinite(v) for v in sums) and any(
            abs(v - sums[0]) > DESYNC_RTOL * max(abs(sums[0]), 1e-30) for v in sums)
        return Agreement(stop=[r for r, row in enumerate(rows) if row[0]],
                         origin=[r for r, row in enumerate(rows) if row[1]], desynced=desynced,
                         fresh=[r for r, row in enumerate(rows) if row[3]])

    def share(self, payload: Any) -> list[Any]:
        """Every rank's ``payload`` (picklable), in rank order (a collective)."""
        out: list[Any] = [None] * (self.world_size or 1)
        dist.all_gather_object(out, payload)
        return out


def decide_together(job: Job, unit: ModelUnit, monitors: list[Monitor],
                    action: OnFault | None) -> OnFault | None:
    """The ranks' agreement at this step (every rank calls it at the same step), and the policy after it:
    a NaN/Inf that came through the gradient all-reduce is marked as received from its origin ranks;
    replicas that drifted apart are a fault; when any rank stops, every rank does, with every rank's
    faults shared."""
    for monitor in {id(m): m for m in (*monitors, unit.monitor)}.values():
        monitor.join(job.rank, job.world_size)
    state = unit.state
    if state is not None:
        job.heartbeat(state.step)
    norms = replica_weight_norms(unit.replicated, None if state is None else state.checked)
    mine = [f for f in unit.monitor.findings if f.rank == job.rank and f.effective_severity == Severity.FAULT]
    agreement = job.agree(action in (OnFault.STOP, OnFault.RAISE), unit.made_first_nonfinite,
                          math.nan if norms is None else weight_checksum(norms),
                          fresh=any(f.key not in job.told for f in mine))
    if agreement.origin and job.rank not in agreement.origin:
        unit.monitor.mark_received(agreement.origin)
    if agreement.desynced:  # every rank read the same checksums: every rank takes this branch
        found = first_desynced_layer(job.share(norms))
        if found is not None and state is not None:
            unit.monitor.add_finding(desync_finding(unit.monitor, state.step, *found))
            mine = [f for f in unit.monitor.findings
                    if f.rank == job.rank and f.effective_severity == Severity.FAULT]
    stopping = bool(agreement.stop or agreement.desynced)
    if stopping or agreement.fresh:  # every rank's faults reach every rank (and rank 0's report)
        for rank, theirs in enumerate(job.share(mine)):
            if rank != job.rank:
                unit.monitor.add_remote(list(theirs or []))
        job.told.update(f.key for f in mine)
    return unit.monitor.action() if stopping else None


def lost_rank_note(job: Job, error: BaseException, wait_s: float) -> str | None:
    """When the training failed in a collective (a peer's connection reset or closed, a timeout): which
    ranks disappeared, and after which step, for the diagnosis; None when no rank is missing."""
    lost = job.lost_ranks(wait_s)
    if not lost:
        return None
    parts = [f"rank {r} of {job.world_size} disappeared" + (
        "" if step is None else f" after step {step} (its last agreement with the others)")
        for r, step in lost.items()]
    if getattr(error, "signum", None) is not None:  # torchrun stops the other ranks when one fails
        return f"{'; '.join(parts)}; rank {job.rank} was then stopped by its launcher ({error})"
    first = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
    return f"{'; '.join(parts)}; rank {job.rank} then failed in a collective ({first})"


def report_lost_ranks(job: Job, monitor: Monitor, error: BaseException) -> None:
    """After the script died in an error: if ranks of the job are gone (a killed rank leaves the others
    failing in their next collective), the diagnosis says which, and when (a tool error of its own)."""
    try:
        note = lost_rank_note(job, error, monitor.config.rank_join_timeout_s / 10)
    except Exception as err:
        monitor.tool_error("distributed job", err)
        return
    if note is not None:
        monitor.tool_error("distributed job", RankLostError(note))
