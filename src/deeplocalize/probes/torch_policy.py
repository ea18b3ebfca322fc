"""What happens to training after a step: ``--max-steps``, then the ``on_fault`` policy (stop, raise, or go
on); in a distributed job every rank decides together, so that no rank is left waiting in a collective."""

from __future__ import annotations

from deeplocalize.errors import FaultDetected, PartiallyWatchedJobError, StopTraining
from deeplocalize.monitor import Monitor
from deeplocalize.probes.torch_dist import Job, decide_together, replicated_grads_nonfinite
from deeplocalize.probes.torch_unit import ModelUnit
from deeplocalize.vocabulary import OnFault


def apply_policy(unit: ModelUnit, monitor: Monitor, job: Job, max_steps: int | None,
                 before_update: bool = False) -> None:
    """--max-steps, then the on_fault policy on what the unit's monitor has seen. In a distributed job
    the ranks decide together, before each update (``torch_dist``)."""
    if max_steps is not None and unit.step >= max_steps:
        monitor.stopped_early = True
        raise StopTraining(f"deeplocalize: reached --max-steps {max_steps}")
    action = unit.monitor.action()
    if job.active():
        state = unit.state
        due = before_update and state is not None and (
            state.step % unit.monitor.config.rank_agree_every == 0
            or replicated_grads_nonfinite(unit.replicated, state.checked))
        if job.everyone is None:  # the ranks meet at the first step: from then on the job is one run
            _meet(job, unit, monitor)
        if not due:
            return  # a fault confirmed on any rank stops every rank at the next agreement
        if not job.everyone_watches(unit.monitor.config.rank_join_timeout_s):
            unit.monitor.tool_error("distributed job", PartiallyWatchedJobError(
                f"rank {job.rank}: not every rank of the job is watched (no answer within "
                f"{unit.monitor.config.rank_join_timeout_s:g} s): faults are reported but no rank is "
                "stopped, since a rank that stopped alone would leave the others waiting"))
            return
        action = decide_together(job, unit, [monitor, *monitor.siblings], action)
    if action in (OnFault.STOP, OnFault.RAISE) and monitor.stop_by_caller:
        monitor.stop_requested = True  # the caller stops (or raises) after the step, on every rank alike
        return
    if action == OnFault.STOP:
        monitor.stopped_early = unit.monitor.stopped_early = True
        raise StopTraining("deeplocalize: fault confirmed, training stopped")
    if action == OnFault.RAISE:
        raise FaultDetected(unit.monitor.diagnosis())


def _meet(job: Job, unit: ModelUnit, monitor: Monitor) -> None:
    """The ranks' handshake (``Job.everyone_watches``), where rank 0 tells where its run is stored; every
    rank's monitors then join the job (their stored runs become one)."""
    if job.everyone_watches(unit.monitor.config.rank_join_timeout_s, publish=monitor.job_key()):
        for watched in (monitor, *monitor.siblings):
            watched.join(job.rank, job.world_size, job.leader)
