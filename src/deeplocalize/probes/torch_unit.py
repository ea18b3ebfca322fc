"""One watched model (a root module and the optimizers that train it): its steps, statistics and monitor.

The session (``torch_session``) routes the global events here. A step of a unit:
1. the root's forward pre-hook (one hook per model, not per layer) opens the step: it keeps references to
   the call's arguments and the RNG state for a possible replay, and on a statistics step attaches the
   per-layer hooks (``torch_hooks``) for this step only;
2. the root's forward hook keeps the gradients its outputs will receive (small ones, for a replay);
3. the optimizer's pre-step hook, before the update: the fused check (``torch_check``) with the losses and
   accuracy of the step, read at once; a NaN/Inf replays the step (``torch_replay``) to find the layer and
   phase that made it, and the policy may stop training before the update;
4. the optimizer's post-step hook ends the step (when every optimizer of the unit has stepped): weights
   and updates on a statistics step, the record to the unit's monitor, hooks off, the next statistics step
   planned (``cadence``).
What the model shows about itself (data, loss, optimizers, precision) is kept in ``torch_model_facts``.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from deeplocalize.cadence import Cadence
from deeplocalize.compat import CompatError
from deeplocalize.compat import torch as compat
from deeplocalize.dumps import MAX_DUMPS, DumpRule
from deeplocalize.model import LossInfo, ModelInfo
from deeplocalize.monitor import Monitor
from deeplocalize.probes import torch_facts
from deeplocalize.probes import torch_reduce as red
from deeplocalize.probes import torch_samples as samples
from deeplocalize.probes import torch_stats as stats
from deeplocalize.probes.torch_bare import BareModel
from deeplocalize.probes.torch_check import NormPlan, add_loss, add_norms
from deeplocalize.probes.torch_dump import dump_step
from deeplocalize.probes.torch_handoff import Handoff
from deeplocalize.probes.torch_hooks import LayerObserver, Mode, first_input, iter_tensors, record
from deeplocalize.probes.torch_layers import LayerTable, is_keras_model, keras_slots
from deeplocalize.probes.torch_model_facts import ModelFacts
from deeplocalize.probes.torch_record import Measured, measure, step_record
from deeplocalize.probes.torch_replay import ForwardCall, GradKeeper, cuda_devices, replay

#: Steps with per-layer flags after a NaN the replay could not reproduce.
FLAG_STEPS = 20


@dataclass
class StepState:
    """What one step of a unit collects until it ends."""

    step: int
    stats: bool
    buffer: red.StepBuffer = field(default_factory=red.StepBuffer)
    observer: LayerObserver | None = None
    calls: list[ForwardCall] = field(default_factory=list)
    keeper: GradKeeper = field(default_factory=GradKeeper)
    snapshot: stats.Snapshot | None = None
    stepped: set[int] = field(default_factory=set)
    checked: Measured | None = None
    checked_entries: int = 0  # entries of ``buffer`` the check read
    replay: red.StepBuffer | None = None
    replay_outcome: str | None = None  # "reproduced" | "outside_model" | "not_reproduced"
    emitted: bool = False
    backwards: int = 0
    targets: list[torch.Tensor] = field(default_factory=list)  # held for a dump only (``dump_dir``)


class ModelUnit:
    """A model being trained, with its own layers, series, findings and verdict (its own ``Monitor``)."""

    def __init__(self, root: nn.Module, name: str, monitor: Monitor, *, prefix: str = "") -> None:
        self.root = root
        self.eager = compat.eager_module(root)
        self.sharded = compat.is_sharded(self.eager)  # FSDP: never replayed (its forward is a collective)
        #: DDP averages this model's gradients over the ranks: the model is DDP's wrapper, or runs inside
        #: one (seen at its first training forward)
        self.replicated = isinstance(root, compat.DATA_PARALLEL)
        #: the first step with a NaN/Inf, and whether this process's own loss or forward made it (then it
        #: is an origin of a distributed job's NaN, not a rank that received it in an all-reduce)
        self.first_nonfinite_at: int | None = None
        self.made_first_nonfinite = False
        self.name = name
        self.monitor = monitor
        self.keras_loop = is_keras_model(self.eager)  # a Keras model in a loop of the script's own
        self.bare = isinstance(self.eager, BareModel)  # tensors trained with no module: no forward to watch
        self.table = (LayerTable.of_layers(self.eager, keras_slots(self.eager)) if self.keras_loop
                      else LayerTable.of_layers(self.eager, self.eager.slots()) if self.bare
                      else LayerTable(self.eager, prefix))
        self.cadence = Cadence(monitor.config)
        self.optimizers: weakref.WeakSet[torch.optim.Optimizer] = weakref.WeakSet()
        self.step = 0  # the last completed step
        self.state: StepState | None = None
        self.flag_until = 0  # per-layer flags on ordinary steps up to this step (after an unreproduced NaN)
        self.facts = ModelFacts(name)
        self._plan: NormPlan | None = None
        self.handoff = Handoff(monitor)  # records to the monitor, in step order
        self._findings_seen = 0
        self._restore_stance: Callable[[], None] | None = None
        self._handles = [root.register_forward_pre_hook(self._root_hook(self._on_forward), with_kwargs=True),
                         root.register_forward_hook(self._root_hook(self._on_output))]
        self.replaying = False
        self.dump_rule = DumpRule(monitor.config)  # the steps whose batch a dump saves
        self.dumped = 0
        self._in_forward = 0  # depth of the model's own training forward calls now running
        self.boundary_pending = False  # a backward without optimizer step ended the step (next forward)
        #: called with (unit, output) after each training forward (the session finds loss owners with it)
        self.notify_output: Callable[[ModelUnit, Any], None] | None = None
        self.prepare_next()

    # ------------------------------------------------------------------ helpers
    def _root_hook(self, method: Callable[..., None]) -> Callable[..., None]:
        """A hook for the root that calls ``method`` for the root only. A plain function, not a bound
        method: ``copy.deepcopy(model)`` (early stopping's best model, an EMA twin) copies a module's hooks,
        deep-copying a bound method's object (this unit, the whole session) but sharing a function, which
        then ignores the copy."""
        root = self.root

        def hook(module: nn.Module, *args: Any) -> None:
            if module is root:
                method(module, *args)

        return hook

    def error(self, where: str, exc: BaseException) -> None:
        self.monitor.tool_error(f"torch probe {where}", exc)

    def owns(self, param: torch.Tensor) -> bool:
        return self.table.owner(param) is not None or any(p is param for p in self.eager.parameters())

    def close_hooks(self) -> None:
        if self.handoff.shards is not None:
            self.handoff.shards.close()
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        if self.state is not None and self.state.observer is not None:
            self.state.observer.detach()
        self._unforce()

    def _unforce(self) -> None:
        restore, self._restore_stance = self._restore_stance, None
        if restore is not None:
            restore()

    # ------------------------------------------------------------------ the step
    def _open(self) -> StepState:
        if self.state is None:
            step = self.step + 1
            stats = self.cadence.is_stats(step)
            self.state = StepState(step=step, stats=stats)
            if stats or step <= self.flag_until:
                self._attach(self.state, Mode.STATS if stats else Mode.FLAGS)
        return self.state

    def _attach(self, state: StepState, mode: Mode) -> None:
        if self.table.refresh():
            self._plan = None
            self.facts.dirty = True
        state.observer = LayerObserver(self.table, state.buffer, mode, self.error, accept=self._accepts,
                                       collapse_entropy=self.monitor.config.attention_collapse_entropy,
                                       in_forward=lambda: self._in_forward > 0)
        state.observer.attach()

    def _accepts(self, module: nn.Module) -> bool:
        """A layer forward that is part of training: grad mode on, or inside the model's own training
        forward (a no-grad region of it, e.g. a re-entrant activation checkpoint, still runs its layers)."""
        return module.training and (torch.is_grad_enabled() or self._in_forward > 0)

    def prepare_next(self) -> None:
        """Right after a step (and before the first): a statistics or flags step gets its hooks now, so
        they see its first forward even when the model's own ``forward`` is never called (a ModuleDict, a
        LightningModule's ``training_step``); a compiled model then runs eagerly."""
        step = self.step + 1
        if self.state is not None or not (self.cadence.is_stats(step) or step <= self.flag_until):
            return
        self._open()
        if self.cadence.is_stats(step) and compat.is_compiled(self.root) and self._restore_stance is None:
            try:
                self._restore_stance = compat.force_eager()
            except CompatError as exc:
                self.error("statistics step", exc)

    @property
    def active(self) -> bool:
        """The current step saw something (a forward, a backward, an optimizer step)."""
        state = self.state
        return state is not None and bool(state.calls or state.backwards or state.stepped or (
            state.observer is not None and state.observer.seen))

    def first_call(self, module: nn.Module, args: tuple) -> None:
        """The call during which the model was found: its keyword arguments are unknown (no replay)."""
        self._on_forward(module, args, {})
        if self.state is not None and self.state.calls:
            self.state.calls[-1].kwargs = None

    def _on_forward(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if self.replaying or compat.is_compiling():
            return
        if not (torch.is_grad_enabled() and module.training):
            self.facts.no_grad_calls += module.training  # (rollouts, bootstrapped targets: ``self_fed``)
            return
        try:
            if self.boundary_pending:
                self.end_step()
            self._in_forward += 1
            if not self.replicated and compat.inside_ddp_of(module):
                self.replicated = True
            state = self._open()
            devices = cuda_devices(args, kwargs)
            rng = compat.rng_state(devices) if self.table.random() else None
            call = ForwardCall(args, kwargs, rng, devices, autocast=compat.autocast_state(),
                               forward=self.eager.__dict__.get("forward"))
            if call.autocast:
                self.facts.saw_autocast(call.autocast[0][1])
            state.calls.append(call)
            if state.stats or not self.facts.x_seen or not self.facts.y_seen:
                x = first_input((args, kwargs))
                if x is not None:
                    self.facts.saw_input(x, (args, kwargs))
                    if state.stats:
                        record(state.buffer, "data", x, Mode.STATS)
        except Exception as exc:
            self.error("forward pre-hook", exc)

    def _on_output(self, module: nn.Module, args: tuple, output: Any) -> None:
        if self.replaying or compat.is_compiling() or not (torch.is_grad_enabled() and module.training):
            return
        self._in_forward = max(self._in_forward - 1, 0)
        try:
            state = self.state
            if state is not None and state.calls:
                call = state.calls[-1]
                state.keeper.watch(call, output)
                # held for the step: on a faulty step, did the real forward make the NaN? (no pass otherwise)
                call.outputs = [t for t in iter_tensors(output) if t.is_floating_point()]
            if self.notify_output is not None:
                self.notify_output(self, output)
        except Exception as exc:
            self.error("forward hook", exc)

    def on_backward(self) -> None:
        state = self._open() if self.bare else self.state  # (bare tensors: no forward opens their step)
        if state is not None:
            state.backwards += 1

    def on_loss(self, info: LossInfo, pred: torch.Tensor | None, target: torch.Tensor,
                kwargs: dict[str, Any]) -> None:
        """A loss function received ``pred`` (this model's output) and ``target``."""
        state = self._open()
        ignore_index = int(kwargs.get("ignore_index", -100))
        if state.stats:
            record(state.buffer, "target", target, Mode.STATS)
        if self.monitor.dump_dir is not None:
            state.targets.append(target)
        if pred is not None:
            acc = torch_facts.accuracy_scalars(info.name, pred, target, ignore_index)
            if acc is not None:
                state.buffer.add("accuracy", "accuracy", 1, list(acc))
        self.facts.saw_loss(info, pred, target, ignore_index, read=state.stats)

    def before_update(self, opt: torch.optim.Optimizer | None, losses: list[torch.Tensor]) -> None:
        """The optimizer's pre-step hook (None: a backward that is a step): the fused check, a replay if
        anything is non-finite."""
        self.boundary_pending = False
        state = self._open()
        if opt is not None:
            self.optimizers.add(opt)
            self.facts.saw_optimizer(opt)
            state.stepped.add(id(opt))
        if state.checked is not None:
            return  # one check per step, at the first optimizer's update
        self.facts.stepped()
        self.facts.read_initial(self.table)
        self.facts.read_loss_scale(losses)
        for loss in losses:
            add_loss(state.buffer, loss)
        if self._plan is None:
            self.table.refresh()
            self._plan = NormPlan.of(self.table)
        if not (self.keras_loop or self.sharded):  # (Keras resets them itself; a shard's are not the model's)
            self.facts.dirty |= self.facts.grad_reset.note(opt, self._plan.params, state.step)
        if state.stats:
            state.snapshot = stats.snapshot(self.table)
            self.facts.set_gradless(stats.full_grads(self.table, state.buffer), self.table)
            add_norms(state.buffer, self._plan, grads=False)
        else:
            add_norms(state.buffer, self._plan)
        state.buffer.fetch_all()
        state.checked = measure([state.buffer])
        state.checked_entries = len(state.buffer.entries)
        finite = state.checked.finite()
        if self.monitor.dump_dir is not None:
            reason = self.dump_rule.reason(state.checked.loss, finite)
            if reason is not None:
                self._dump(state, reason)
        if not finite:
            self._replay(state)
            if self.first_nonfinite_at is None:
                self.first_nonfinite_at = state.step
                self.made_first_nonfinite = self.made_nonfinite()
            self._emit_now(state)

    def end_step(self, last: bool = False) -> None:
        """Close the current step: weights and updates (statistics steps), the record, the next step
        planned (unless ``last``)."""
        self.boundary_pending = False
        self._in_forward = 0  # a forward that raised never returned
        state, self.state = self.state, None
        if state is None:
            return
        try:
            observer = state.observer
            if observer is not None:  # first: an error below must not leave the hooks attached
                observer.detach()
                self.facts.dirty |= observer.layers_changed or observer.facts_changed
            post = red.StepBuffer()
            if state.stats and self._plan is not None:
                stats.full_weights(self.table, state.snapshot, post)
            if observer is not None and observer.layers_changed:
                self._plan = None  # (after the weights: they were measured with the step's plan)
            if state.checked is None:  # no optimizer stepped (a crash before it): check what there is
                if self._plan is None:
                    self.table.refresh()
                    self._plan = NormPlan.of(self.table)
                add_norms(state.buffer, self._plan)
                state.buffer.fetch_all()
            post.fetch_all()
            if state.stats:
                self._unforce()
            self.step = state.step
            if not state.emitted:
                self._emit(state, [state.buffer, post], state.replay)
            lr = self._lr()
            loss = state.checked.loss if state.checked is not None else None
            self.cadence.observe(state.step, state.stats, lr, loss)
            if len(self.monitor.findings) > self._findings_seen:
                self._findings_seen = len(self.monitor.findings)
                self.cadence.densify(state.step)
            self.monitor.check_gap = self.cadence.check_gap()
        except Exception as exc:
            self.error("step end", exc)
        if not last:
            self.prepare_next()

    def discard(self) -> None:
        state, self.state = self.state, None
        if state is not None and state.observer is not None:
            state.observer.detach()
        self._unforce()

    # ------------------------------------------------------------------ faults
    def _replay(self, state: StepState) -> None:
        """Replay the step with exact per-layer counts (the check saw a NaN/Inf before the update). Not for
        a sharded model, whose forward is a collective: per-layer flags on the next steps instead."""
        if not state.calls:
            return
        if self.sharded:
            self.flag_until = state.step + FLAG_STEPS
            return
        if state.observer is not None:  # the step's own hooks must not see the replay
            state.observer.detach()
        buffer = red.StepBuffer()
        self.replaying = True
        try:
            result = replay(self.table, self.eager, state.calls, buffer, self.error)
            buffer.fetch_all()
            state.replay = buffer
            checked = state.checked
            loss_bad = any(not math.isfinite(v) for v in (checked.losses if checked else []))
            output_bad = any(not bool(torch.isfinite(t).all()) for call in state.calls for t in call.outputs)
            if not measure([buffer]).finite():
                state.replay_outcome = "reproduced"  # in a layer, or already in the input
            elif not result.replayed:  # no call could run again: per-layer flags on the next steps
                self.flag_until = state.step + FLAG_STEPS
            elif output_bad:
                state.replay_outcome = "not_reproduced"  # the real forward made it, its replay did not
                self.flag_until = state.step + FLAG_STEPS  # a transient fault? flags on the next steps
            elif result.outside or loss_bad:
                state.replay_outcome = "outside_model"  # the loss (or code after the model) made it
            elif result.complete:
                state.replay_outcome = "not_reproduced"
                self.flag_until = state.step + FLAG_STEPS  # a transient fault? flags on the next steps
        except Exception as exc:
            self.error("replay", exc)
        finally:
            self.replaying = False

    def made_nonfinite(self) -> bool:
        """This step's own loss or forward pass made a NaN/Inf (not one received from elsewhere, e.g. in a
        gradient all-reduce: then the replay of the step does not reproduce it)."""
        state = self.state
        if state is None or state.checked is None:
            return False
        if any(not math.isfinite(v) for v in state.checked.losses):
            return True
        return state.replay_outcome in ("reproduced", "outside_model")

    def _dump(self, state: StepState, reason: str) -> None:
        """Save the step's inputs for the user (``dump_dir``); a failure (a full disk) is a tool error."""
        directory = self.monitor.dump_dir
        if directory is None or self.dumped >= MAX_DUMPS or not state.calls:
            return
        try:
            path = dump_step(directory, self.name, state.step, reason, state.checked.loss if state.checked
                             else None, [(c.args, c.kwargs) for c in state.calls], state.targets,
                             samples.TRACKER.last)
            self.dumped += 1
            self.monitor.dumps[state.step] = str(path)
        except Exception as exc:
            self.error("dump", exc)

    def _emit_now(self, state: StepState) -> None:
        """The faulty step's record reaches the monitor before the update, so the policy can stop it."""
        state.emitted = True
        self._emit(state, [state.buffer], state.replay)

    # ------------------------------------------------------------------ records
    def _emit(self, state: StepState, buffers: list[red.StepBuffer], replayed: red.StepBuffer | None) -> None:
        if state.checked is not None and replayed is None and not any(b.entries for b in buffers[1:]) and len(
                buffers[0].entries) == state.checked_entries:
            measured = state.checked  # an ordinary step: nothing was added since the check read it
        else:
            measured = measure([*buffers, *([replayed] if replayed is not None else [])])
        record_ = step_record(state.step, measured, self._lr(), state.replay_outcome if replayed else None)
        if state.stats:
            self.facts.saw_updates(record_.stats)
        if self.facts.dirty:
            self.facts.dirty = False
            self.monitor.set_model(self.model_info())
        routine = (not state.stats and record_.all_finite and not state.emitted
                   and state.step % self.monitor.check_gap != 0)
        self.handoff.send(record_, routine, state.stats)

    def flush(self) -> None:
        self.handoff.flush()

    def _lr(self) -> float | None:
        for opt in self.optimizers:
            return torch_facts.current_lr(opt)
        return None

    def model_info(self) -> ModelInfo:
        """The facts about this model seen so far."""
        return self.facts.model_info(self.table)
