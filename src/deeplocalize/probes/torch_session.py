"""The PyTorch session: the few global hooks that turn a training script into watched models.

Installed by ``watch`` (given models) or ``instrument`` (every model an unmodified script trains):
- global optimizer pre/post-step hooks: each optimizer belongs to one ``ModelUnit`` (the model whose
  parameters it updates; two optimizers that update different parts of one model, a GAN's generator and
  discriminator, make two units), and its steps are that unit's steps;
- ``torch.autograd.backward`` wrapped: the loss (the tensor ``.backward()`` is called on) goes to the unit
  whose optimizer steps next (in a GAN, the discriminator's loss to the discriminator's optimizer);
- the ``torch.nn.functional`` losses wrapped (loss modules call them): the loss kind, the labels, accuracy,
  and the values the loss receives, for the unit whose output they are;
- ``nn.Module.load_state_dict`` wrapped: a model's target network is noted (``torch_target_net``);
- ``instrument`` only: the models the script trains are found as they run (``torch_discovery``): the first
  module with trainable parameters called in training mode, or, in a script with no module at all, the
  tensors its loss trains (``torch_bare``).
Each unit then has one forward pre-hook and one forward hook on its root (``torch_unit``). Hooks never change
tensors; their errors go to ``tool_errors``; only the policy's StopTraining / FaultDetected reach the loop.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.optim import optimizer as optim_mod

from deeplocalize.compat import CompatError
from deeplocalize.compat import torch as compat
from deeplocalize.errors import FaultDetected, StopTraining
from deeplocalize.monitor import Monitor
from deeplocalize.probes import torch_facts as facts
from deeplocalize.probes import torch_keras_optimizer as keras_optimizer
from deeplocalize.probes import torch_samples as samples
from deeplocalize.probes import torch_target_net as target_net
from deeplocalize.probes.torch_amp import GradScalerWatch
from deeplocalize.probes.torch_bare import BareModel, trains_parameters
from deeplocalize.probes.torch_discovery import Discovery, owner_of_optimizer
from deeplocalize.probes.torch_dist import Job, report_lost_ranks
from deeplocalize.probes.torch_hooks import iter_tensors, made_from
from deeplocalize.probes.torch_layers import model_name, owner_of
from deeplocalize.probes.torch_losses import LossOwners, StepLosses
from deeplocalize.probes.torch_policy import apply_policy
from deeplocalize.probes.torch_shards import ShardExchange
from deeplocalize.probes.torch_unit import ModelUnit

#: ``torch.nn.functional`` losses wrapped while a session is active (loss modules call these).
FUNCTIONAL_LOSSES = ("cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
                     "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div")
#: Backward passes without any optimizer step after which each backward counts as a step (an optimizer that
#: exists but is never stepped); gradient accumulation uses far fewer micro-batches per step.
MAX_ACCUMULATION = 64
#: How many autograd nodes back from a loss's input its model's output is looked for.
_OWNER_DEPTH = 12

_ACTIVE: list[TorchSession] = []  # installed sessions; only the innermost one observes


class TorchSession:
    """Global hooks, units and step boundaries for one monitored stretch of training."""

    def __init__(self, monitor: Monitor, *, model: nn.Module | None = None,
                 optimizers: tuple[torch.optim.Optimizer, ...] = (), max_steps: int | None = None) -> None:
        self.monitor = monitor  # the first unit's; later units get monitors of their own (``spawn``)
        self.max_steps = max_steps
        self.auto_roots = model is None
        self.watched = model
        self.units: list[ModelUnit] = []
        # by the optimizer itself, not its id(): a script's next optimizer may get a freed one's address
        self._by_opt: weakref.WeakKeyDictionary[Any, ModelUnit] = weakref.WeakKeyDictionary()
        self.losses = StepLosses()
        self.scaler = GradScalerWatch(self)  # mixed precision: losses unscaled, skipped steps judged
        self._last: ModelUnit | None = None  # the unit whose model ran forward last
        self._outputs: dict[Any, ModelUnit] = {}  # autograd node of a model output -> its unit
        self.owners = LossOwners()
        self._ever_stepped = False
        self._backwards = 0
        self.opt_steps = 0  # optimizer.step() calls seen (a GradScaler's skipped step makes none)
        self.discovery = Discovery(self)  # ``instrument``: the models a script trains, found as they run
        self.hook_handles: list[Any] = []
        self._patch = compat.Patch()
        self._installed = False
        self._given_optimizers = tuple(compat.stepping_optimizer(o) for o in optimizers)
        self.created: weakref.WeakSet[torch.optim.Optimizer] = weakref.WeakSet()  # known optimizers
        self.job = Job()  # this process's rank in a distributed job, if any
        self._crash_seen = False
        monitor.flush_pending = self.flush
        monitor.crash_hooks.append(self._note_lost_ranks)

    # ------------------------------------------------------------------ install / close
    def install(self) -> None:
        """Install the global hooks and wrappers (undone by ``close``)."""
        compat.check_version()
        self.hook_handles += [
            optim_mod.register_optimizer_step_pre_hook(compat.run_eager(self._opt_pre)),
            optim_mod.register_optimizer_step_post_hook(compat.run_eager(self._opt_post)),
        ]
        self._patch.replace(torch.autograd, "backward", self._wrap_backward)
        self._patch.replace(nn.Module, "load_state_dict", functools.partial(target_net.wrap_loader, self))
        self.scaler.install(self._patch)
        if self.monitor.dump_dir is not None:
            try:
                samples.TRACKER.install(self._patch)
            except CompatError as exc:
                self.monitor.tool_error("torch probe sample indices", exc)
        for name in FUNCTIONAL_LOSSES:
            try:
                self._patch.replace(F, name, functools.partial(self._wrap_loss, name))
            except CompatError as exc:
                self.monitor.tool_error("torch probe loss", exc)
        for opt in self._given_optimizers:
            self.created.add(opt)
        self._patch.replace(torch.optim.Optimizer, "__init__", self._wrap_opt_init)
        _ACTIVE.append(self)
        self._installed = True
        if self.watched is not None:
            unit = self.add_unit(self.watched, "")
            if unit.bare:  # no forward will say whose backward comes: these tensors'
                self.note_output(unit, None)
            for opt in self._given_optimizers:
                self.unit_for_optimizer(opt)
        else:
            self.discovery.arm()

    def close(self, exc: BaseException | None = None) -> None:
        """End open steps (partial after a crash, or a backward with no optimizer step), flush, uninstall."""
        if not self._installed:
            return
        if exc is not None:
            self._note_lost_ranks(exc)
        try:
            self.owners.settle()
            for unit in self.units:
                state = unit.state
                # a backward no optimizer applied (a GAN's discriminator under the generator's last loss)
                # is no step, unless nothing but backward ever trains this model
                ended = exc is not None or (state is not None and bool(
                    state.stepped or (state.backwards and not unit.facts.optimizers)))
                if state is not None and unit.active and ended:
                    unit.end_step(last=True)
                else:
                    unit.discard()
                unit.flush()
        except (StopTraining, FaultDetected):
            pass
        except Exception as err:
            self.monitor.tool_error("torch probe exit", err)
        finally:
            for unit in self.units:
                unit.close_hooks()
            self.discovery.close()
            for handle in self.hook_handles:
                handle.remove()
            self.hook_handles.clear()
            self._patch.restore()
            if self in _ACTIVE:
                _ACTIVE.remove(self)
            self._installed = False

    def _note_lost_ranks(self, exc: BaseException) -> None:
        """The script died in an error (or SIGTERM) while every rank was watched: lost ranks are reported."""
        stopped = isinstance(exc, KeyboardInterrupt) and getattr(exc, "signum", None) is not None
        if not self._crash_seen and self.job.everyone and (isinstance(exc, RuntimeError) or stopped):
            self._crash_seen = True
            report_lost_ranks(self.job, self.monitor, exc)

    @property
    def live(self) -> bool:
        return bool(_ACTIVE) and _ACTIVE[-1] is self and not any(u.replaying for u in self.units)

    def flush(self) -> None:
        """Every record held back reaches its monitor (before anything reads the monitors)."""
        for unit in self.units:
            unit.flush()

    def guard(self, where: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except (StopTraining, FaultDetected):
            raise
        except Exception as exc:
            self.monitor.tool_error(f"torch probe {where}", exc)
            return None

    # ------------------------------------------------------------------ units
    def add_unit(self, root: nn.Module, prefix: str) -> ModelUnit:
        bare = self.units[0] if self.units and self.units[0].bare else None
        if bare is not None and self.watched is None and not isinstance(root, BareModel) and not (
                bare.monitor.trace.steps_observed and trains_parameters(bare.eager)):
            self._drop_bare(bare)  # (kept: a module's layers trained through direct calls of ``forward``)
        monitor = self.monitor if not self.units else self.monitor.spawn()
        name = prefix.rstrip(".") or model_name(compat.eager_module(root))
        taken = {u.name for u in self.units}
        if name in taken:  # two models of one class: "Sequential", "Sequential_2"
            name = next(f"{name}_{k}" for k in range(2, len(taken) + 3) if f"{name}_{k}" not in taken)
        unit = self._unit(root, name, monitor, prefix)
        self.units.append(unit)
        self.discovery.known_from(root)
        return unit

    def _drop_bare(self, bare: ModelUnit) -> None:
        """Tensors adopted before any model was found (an attack's input, say) give way to the model that
        turns out to be trained: it is what the run is about."""
        bare.close_hooks()
        self.units.remove(bare)
        self.monitor.reset()
        for opt in [o for o, unit in self._by_opt.items() if unit is bare]:
            del self._by_opt[opt]
        if self._last is bare:
            self._last = None

    def _unit(self, root: nn.Module, name: str, monitor: Monitor, prefix: str) -> ModelUnit:
        unit = ModelUnit(root, name, monitor, prefix=prefix)
        unit.notify_output = self.note_output
        if unit.keras_loop:  # a Keras model in a loop of the script's own: its Keras optimizers step it
            keras_optimizer.install(self)
        job = self.job
        if unit.sharded and job.active():  # FSDP: statistics of whole tensors from every rank's shards
            unit.handoff.shards = ShardExchange(f"deeplocalize/session{job.session}/{name}", job.rank,
                                                job.world_size)
        return unit

    def unit_for_optimizer(self, opt: torch.optim.Optimizer) -> ModelUnit | None:
        unit = self._by_opt.get(opt)
        if unit is not None:
            return unit
        params = facts.optimizer_params(opt)
        unit = owner_of_optimizer(self.units, params)
        if unit is None:
            if self.auto_roots:
                self.created.add(opt)  # (made before the session began): its model is wanted
                self.discovery.arm()
            return None
        if (unit.root is self.watched or self.auto_roots) and unit.optimizers and self._backwards:
            # another optimizer of the model (watched, or found by ``instrument``), stepping after a
            # backward of its own: the model's parts are trained in turn (a GAN's generator and
            # discriminator in one LightningModule), each a model of its own
            unit = self._split(unit, opt) or unit
        self.adopt_optimizer(unit, opt)
        return unit

    def adopt_optimizer(self, unit: ModelUnit, opt: torch.optim.Optimizer) -> None:
        self._by_opt[opt] = unit
        unit.optimizers.add(opt)

    def _split(self, whole: ModelUnit, opt: torch.optim.Optimizer) -> ModelUnit | None:
        """The watched model becomes one unit per part its optimizers train (None: the parts overlap)."""
        root = compat.eager_module(whole.root)
        optimizers = [*whole.optimizers, opt]
        params = [{id(p) for p in facts.optimizer_params(o)} for o in optimizers]
        if any(params[-1] & other for other in params[:-1]):
            return None  # the same parameters (an optimizer and its wrapper, e.g. accelerate's)
        owners = [owner_of(root, facts.optimizer_params(o)) for o in optimizers]
        names = [name for name, _ in owners]
        if not all(names) or len(set(names)) < len(names) or any(
                a.startswith(b + ".") for a in names for b in names):
            return None
        whole.close_hooks()
        self.units.remove(whole)
        whole.monitor.reset()
        first = self._unit(owners[0][1], names[0], whole.monitor, names[0] + ".")
        self.units.insert(0, first)
        for o in whole.optimizers:
            self._by_opt[o] = first
            first.optimizers.add(o)
        return self.add_unit(owners[-1][1], names[-1] + ".")

    # ------------------------------------------------------------------ loss
    def _wrap_backward(self, original: Callable[..., Any]) -> Callable[..., Any]:
        session = self

        @functools.wraps(original)
        def backward(tensors: Any, *args: Any, **kwargs: Any) -> Any:
            if session.live:
                session.guard("backward", session._before_backward, tensors)
            result = original(tensors, *args, **kwargs)
            if session.live:
                session.guard("backward", session._after_backward)
            return result

        return backward

    def _before_backward(self, tensors: Any) -> None:
        loss = tensors if isinstance(tensors, torch.Tensor) else next(iter_tensors(tensors), None)
        bare = self.discovery.bare_unit(loss)
        if bare is not None and bare.boundary_pending:
            bare.end_step()  # the previous backward was a step: its update has been made by now
            self.apply_policy(bare)
        for unit in self.units:  # were the gradients reset since the last backward? (``torch_grad_reset``)
            unit.facts.grad_reset.before_backward()
        self.owners.backward(loss, self._owner)
        loss = self.scaler.unscaled(loss)
        self.losses.backward(loss if loss is not None and loss.numel() >= 1 and loss.is_floating_point()
                             else None)

    def _after_backward(self) -> None:
        self._backwards += 1
        for unit in self.units:
            unit.facts.grad_reset.after_backward()
        unit = self._last
        if unit is None:
            return
        unit.on_backward()
        bare = not self.created or self._backwards > MAX_ACCUMULATION  # no optimizer, or never stepped
        if bare and not (self._ever_stepped or unit.keras_loop):  # (Keras's: ``torch_keras_optimizer``)
            # this backward is the step: checked now (its gradients may be zeroed), closed at the next forward
            unit.before_update(None, self.losses.take())
            unit.boundary_pending = True
            self.apply_policy(unit, before_update=True)  # before the script's own update

    def _wrap_loss(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        session = self

        @functools.wraps(original)
        def loss_fn(*args: Any, **kwargs: Any) -> Any:
            if not session.live or compat.is_compiling():  # (a loss in a compiled forward: seen at backward)
                return original(*args, **kwargs)
            session.guard(f"loss {name}", session._on_loss, name, args, kwargs)
            result = original(*args, **kwargs)
            session.guard(f"loss {name}", session._on_loss_result, original, args, kwargs, result)
            return result

        return loss_fn

    def _on_loss(self, name: str, args: tuple, kwargs: dict[str, Any]) -> None:
        if not torch.is_grad_enabled():
            return
        pred = args[0] if args else kwargs.get("input")
        target = args[1] if len(args) > 1 else kwargs.get("target")
        if not isinstance(target, torch.Tensor):
            return
        unit = self._owner(pred) if isinstance(pred, torch.Tensor) else self._last
        self.owners.saw(unit)
        if unit is not None:
            if unit.facts.loss_info is None:  # the first loss call: a loss module's class names it better
                name = compat.calling_loss_module(depth=4) or name
            unit.on_loss(facts.loss_info(name), pred if isinstance(pred, torch.Tensor) else None, target,
                         kwargs)

    def _on_loss_result(self, original: Callable[..., Any], args: tuple, kwargs: dict[str, Any],
                        result: Any) -> None:
        unit = self.owners.owner
        if unit is None or not unit.facts.loss_scale.pending or not torch.is_grad_enabled():
            return
        if not isinstance(result, torch.Tensor) or not result.is_floating_point():
            unit.facts.loss_scale.note(None, 0)
            return
        with torch.no_grad():
            if facts.loss_reduction(kwargs) == "sum":  # the per-element mean needs the elements
                result = original(*args, **{**kwargs, "reduction": "none"})
            unit.facts.loss_scale.note(result.detach().float().mean(), result.numel(),
                                       result.shape[0] if result.dim() else 1)

    def note_output(self, unit: ModelUnit, output: Any) -> None:
        """A model's training forward returned ``output`` (to find whose output a loss receives)."""
        self._last = unit
        if len(self.units) > 1:
            for t in iter_tensors(output):  # (a model run inside this one with the same output: the inner)
                if t.grad_fn is not None:
                    self._outputs.setdefault(t.grad_fn, unit)

    def _owner(self, pred: torch.Tensor) -> ModelUnit | None:
        """The unit whose model output ``pred`` is, or is made from (the last model run when unknown)."""
        if len(self.units) <= 1 or pred.grad_fn is None:
            return self._last
        return made_from(pred, self._outputs, _OWNER_DEPTH) or self._last

    # ------------------------------------------------------------------ optimizer
    def _wrap_opt_init(self, original: Callable[..., Any]) -> Callable[..., Any]:
        session = self

        @functools.wraps(original)
        def init(opt: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> None:
            original(opt, *args, **kwargs)
            if session.live:
                session.guard("optimizer", session._on_new_optimizer, opt)

        return init

    def _on_new_optimizer(self, opt: torch.optim.Optimizer) -> None:
        self.created.add(opt)
        self.discovery.new_optimizer(opt)  # its model is found at its first training forward

    def _opt_pre(self, opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> Any:
        if not self.live:
            return None
        self.opt_steps += 1
        closure = kwargs.get("closure", args[0] if args else None)
        if callable(closure):  # forward and backward run inside step() (Lightning): check after them
            wrapped = self._after_closure(opt, closure)
            if "closure" in kwargs:
                return args, {**kwargs, "closure": wrapped}
            return (wrapped, *args[1:]), kwargs
        self.guard("optimizer pre-hook", self._on_opt_pre, opt)
        return None

    def _after_closure(self, opt: torch.optim.Optimizer, closure: Callable[[], Any]) -> Callable[[], Any]:
        """The closure, then (after its first call: its forward and backward) the check before the update."""
        first = [True]

        def run() -> Any:
            result = closure()
            if first[0] and self.live:
                first[0] = False
                self.guard("optimizer pre-hook", self._on_opt_pre, opt)
            return result

        return run

    def _on_opt_pre(self, opt: torch.optim.Optimizer) -> None:
        unit = self.unit_for_optimizer(opt) or self.discovery.stale_optimizer(opt, self._last)
        if unit is None:
            self.losses.drop()
            return
        losses = self.losses.take()
        self.owners.stepped(unit, len(losses))  # (a GAN's generator on its discriminator's: ``torch_losses``)
        state = unit.state
        if state is not None and id(opt) in state.stepped:
            self.end_unit(unit)  # the same optimizer again: the previous step is over
        unit.boundary_pending = False  # an optimizer steps after all: this backward was not a step
        unit.before_update(opt, losses)
        self.apply_policy(unit, before_update=True)

    def _opt_post(self, opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self.live:
            self.guard("optimizer hook", self._on_opt_post, opt)

    def _on_opt_post(self, opt: torch.optim.Optimizer) -> None:
        self._ever_stepped = True
        self.discovery.step_ended()
        self._backwards = 0
        unit = self._by_opt.get(opt)
        if unit is None or unit.state is None:
            return
        if all(id(o) in unit.state.stepped for o in unit.optimizers):
            self.end_unit(unit)

    def end_unit(self, unit: ModelUnit) -> None:
        unit.end_step()
        self._outputs.clear()
        self.apply_policy(unit)

    # ------------------------------------------------------------------ policy
    def apply_policy(self, unit: ModelUnit, before_update: bool = False) -> None:
        """--max-steps, then the on_fault policy on what the unit's monitor has seen (``torch_policy``)."""
        apply_policy(unit, self.monitor, self.job, self.max_steps, before_update)
