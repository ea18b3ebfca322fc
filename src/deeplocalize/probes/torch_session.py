"""The PyTorch session: global hooks that turn a training loop into StepRecords, and the step boundaries.

Installed by ``watch`` (one model) or ``instrument`` (every torch module of an unmodified script):
- global module forward pre/post hooks -> layers (leaf modules, and non-root modules owning parameters),
  the model input, and loss modules (``nn.modules.loss._Loss``; they are not layers);
- the common ``torch.nn.functional`` losses wrapped while active -> loss facts, labels, accuracy;
- ``torch.autograd.backward`` wrapped -> the loss (the tensor ``.backward()`` is called on);
- global optimizer step pre/post hooks -> step boundaries, parameter snapshot, gradients, lr.

A step ends at an optimizer step; when several optimizers step after one backward, when all known
optimizers have stepped (else at the next training forward or backward). With no optimizer at all, each
backward is a step, closed at the next training forward. Hooks never change tensors; errors inside them go
to ``monitor.tool_error``; only the policy's StopTraining/FaultDetected reach the training loop.
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

from deeplocalize.errors import FaultDetected, StopTraining
from deeplocalize.model import DataInfo, LossInfo, ModelInfo
from deeplocalize.monitor import Monitor
from deeplocalize.probes import torch_facts as facts
from deeplocalize.probes.torch_collector import TorchCollector, iter_tensors
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import OnFault

#: ``torch.nn.functional`` losses wrapped while a session is active.
FUNCTIONAL_LOSSES = ("cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
                     "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div")

_ACTIVE: list[TorchSession] = []  # installed sessions; only the innermost one observes
_KERAS_TYPES: dict[type, bool] = {}


def is_keras_module(module: nn.Module) -> bool:
    """True for Keras layers/models (torch modules under the torch backend): the Keras probe handles them."""
    cls = type(module)
    hit = _KERAS_TYPES.get(cls)
    if hit is None:
        hit = _KERAS_TYPES[cls] = any(c.__module__.split(".")[0] == "keras" for c in cls.__mro__)
    return hit


#: Backward passes without any optimizer step after which each backward counts as a step (an optimizer that
#: exists but is never stepped); gradient accumulation uses far fewer micro-batches per step.
MAX_ACCUMULATION = 64

class TorchSession:
    """Hooks + step boundaries for one monitored stretch of training (see the module docstring)."""

    def __init__(self, monitor: Monitor, *, model: nn.Module | None = None,
                 optimizers: tuple[torch.optim.Optimizer, ...] = (), max_steps: int | None = None) -> None:
        self.monitor = monitor
        self.collector = TorchCollector(monitor)
        self.collector.before_emit = self._before_emit
        self.collector.defer_clean = True
        monitor.flush_pending = self.collector.flush
        self.max_steps = max_steps
        self.auto_roots = model is None
        self._roots: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()
        self._named: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()
        self._optimizers: weakref.WeakSet[torch.optim.Optimizer] = weakref.WeakSet(optimizers)
        self._stepped: weakref.WeakSet[torch.optim.Optimizer] = weakref.WeakSet()
        self._last_opt: Any = None
        self._pending_boundary = False
        self._backward_seen = False
        self._ever_stepped = False  # has any optimizer stepped in this session?
        self._backwards_since_step = 0
        self._loss_ctx: list[Any] | None = None  # [LossInfo, handled] inside a loss module's forward
        self._loss: LossInfo | None = None
        self._loss_infos: dict[str, LossInfo] = {}  # per loss name, built once
        self._data = DataInfo()
        self._x_done = self._y_done = False
        self._task: str | None = None
        self._opt_infos: list[dict[str, Any]] = []
        self._facts_dirty = True
        self._handles: list[Any] = []
        self._patches: list[tuple[Any, str, Any]] = []
        self._installed = False
        if model is not None:
            self._add_root(model)

    # ------------------------------------------------------------------ install / close
    def install(self) -> None:
        """Install the global hooks and wrappers (undone by ``close``)."""
        mm = nn.modules.module
        self._handles += [
            mm.register_module_forward_pre_hook(self._module_pre),
            mm.register_module_forward_hook(self._module_post),
            optim_mod.register_optimizer_step_pre_hook(self._opt_pre),
            optim_mod.register_optimizer_step_post_hook(self._opt_post),
        ]
        self._patch(torch.autograd, "backward", self._wrap_backward(torch.autograd.backward))
        for name in FUNCTIONAL_LOSSES:
            original = getattr(F, name, None)
            if original is not None:
                self._patch(F, name, self._wrap_loss(name, original))
        self._patch(torch.optim.Optimizer, "__init__", self._wrap_opt_init(torch.optim.Optimizer.__init__))
        _ACTIVE.append(self)
        self._installed = True

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        self._patches.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def close(self, exc: BaseException | None = None) -> None:
        """Record a partial step (after a crash, or a backward without optimizer step), then uninstall."""
        if not self._installed:
            return
        try:
            c = self.collector
            if c.open and c.activity and (exc is not None or self._backward_seen or self._pending_boundary):
                self._finalize(policy=False)
            else:
                c.discard_step()
            c.flush()
        except Exception as err:
            self.monitor.tool_error("torch probe exit", err)
        finally:
            for handle in self._handles:
                handle.remove()
            for owner, name, original in reversed(self._patches):
                setattr(owner, name, original)
            self._handles.clear()
            self._patches.clear()
            if self in _ACTIVE:
                _ACTIVE.remove(self)
            self._installed = False

    @property
    def _live(self) -> bool:
        return bool(_ACTIVE) and _ACTIVE[-1] is self

    def _guard(self, where: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a hook body; tool errors are recorded, the policy's signals pass through."""
        try:
            return fn(*args)
        except (StopTraining, FaultDetected):
            raise
        except Exception as exc:
            self.monitor.tool_error(f"torch probe {where}", exc)
            return None

    # ------------------------------------------------------------------ layers
    def _add_root(self, root: nn.Module) -> None:
        prefix = "" if not self._roots else f"{type(root).__name__.lower()}{len(self._roots)}."
        self._roots[root] = prefix
        for name, module in root.named_modules():
            if facts.is_loss_module(module) or is_keras_module(module):
                continue
            full = prefix + name if name else (prefix.rstrip(".") or type(module).__name__)
            old = self._named.get(module)
            self._named[module] = full
            leaf = next(iter(module.children()), None) is None
            owns = module is not root and next(iter(module.parameters(recurse=False)), None) is not None
            if not (leaf or owns):
                continue
            slot = self.collector.slots.get(module)
            if slot is None:
                # attention applies out_proj functionally: its parameters are the attention layer's own
                self.collector.add_layer(module, full, recurse=isinstance(module, nn.MultiheadAttention))
            elif old is not None and slot.index is None:
                slot.name = full  # was a root of its own before its parent was first seen
        for module, slot in self.collector.slots.items():
            slot.is_root = module in self._roots

    # ------------------------------------------------------------------ module hooks
    def _module_pre(self, module: nn.Module, args: Any) -> None:
        if not (_ACTIVE and _ACTIVE[-1] is self):
            return
        try:  # ``_guard``, inlined: this runs for every module call
            slot = self.collector.slots.get(module)
            if slot is None or slot.is_root:
                self._on_pre(module, args)
            elif torch.is_grad_enabled() and module.training:  # the common case: a known layer
                if self._pending_boundary:
                    self._finalize()
                self.collector.forward_pre(slot, args)
        except (StopTraining, FaultDetected):
            raise
        except Exception as exc:
            self.monitor.tool_error("torch probe forward pre-hook", exc)

    def _on_pre(self, module: nn.Module, args: Any) -> None:
        """A module that is not a known inner layer: a loss, a model root, or one not seen before."""
        if facts.is_loss_module(module):
            self._loss_ctx = [self._loss_info(type(module).__name__), False]
            return
        if not TorchCollector.should_record(module):
            return
        if module not in self._named:
            if not self.auto_roots or is_keras_module(module):
                return
            self._add_root(module)
        slot = self.collector.slots.get(module)
        is_root = module in self._roots
        if (slot is not None or is_root) and self._pending_boundary:
            self._finalize()
        if is_root:
            self._observe_input(args)
        if slot is not None:
            self.collector.forward_pre(slot, args)

    def _module_post(self, module: nn.Module, args: Any, output: Any) -> None:
        if not (_ACTIVE and _ACTIVE[-1] is self):
            return
        try:  # ``_guard``, inlined: this runs for every module call
            slot = self.collector.slots.get(module)
            if slot is not None:
                self.collector.forward_post(slot, args, output)
            else:
                self._on_post(module, args, output)
        except (StopTraining, FaultDetected):
            raise
        except Exception as exc:
            self.monitor.tool_error("torch probe forward hook", exc)

    def _on_post(self, module: nn.Module, args: Any, output: Any) -> None:
        """A module that is not a layer: a loss module's call gives the loss facts."""
        if facts.is_loss_module(module):
            ctx, self._loss_ctx = self._loss_ctx, None
            if ctx is not None and not ctx[1] and len(args) >= 2:
                self._on_loss(ctx[0], args[0], args[1], {})

    def _observe_input(self, args: Any) -> None:
        self.collector.observe_data(args)
        if not self._x_done:
            x = next(iter_tensors(args), None)
            if x is not None:
                self._x_done = True
                facts.x_facts(x, self._data)
                self._facts_dirty = True

    # ------------------------------------------------------------------ loss
    def _wrap_loss(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        session = self

        @functools.wraps(original)
        def loss_fn(*args: Any, **kwargs: Any) -> Any:
            if session._live:
                session._guard(f"loss {name}", session._on_functional_loss, name, args, kwargs)
            return original(*args, **kwargs)

        return loss_fn

    def _loss_info(self, name: str) -> LossInfo:
        info = self._loss_infos.get(name)
        if info is None:
            info = self._loss_infos[name] = facts.loss_info(name)
        return info

    def _on_functional_loss(self, name: str, args: tuple, kwargs: dict[str, Any]) -> None:
        pred = args[0] if args else kwargs.get("input")
        target = args[1] if len(args) > 1 else kwargs.get("target")
        info = self._loss_info(name)
        if self._loss_ctx is not None:
            info = self._loss_ctx[0]
            self._loss_ctx[1] = True
        self._on_loss(info, pred, target, kwargs)

    def _on_loss(self, info: LossInfo, pred: Any, target: Any, kwargs: dict[str, Any]) -> None:
        if not torch.is_grad_enabled() or not isinstance(target, torch.Tensor):
            return
        if self._loss is None:
            self._loss = info
            self._facts_dirty = True
        self.collector.observe_target(target)
        if isinstance(pred, torch.Tensor):
            acc = facts.accuracy_scalars(info.name, pred, target, int(kwargs.get("ignore_index", -100)))
            if acc is not None:
                self.collector.observe_accuracy(*acc)
        if not self._y_done:
            self._y_done = True
            facts.y_facts(target, self._data)
            self._task, self._data.n_classes = facts.infer_task(
                info, pred if isinstance(pred, torch.Tensor) else None, self._data)
            self._facts_dirty = True

    # ------------------------------------------------------------------ backward
    def _wrap_backward(self, original: Callable[..., Any]) -> Callable[..., Any]:
        session = self

        @functools.wraps(original)
        def backward(tensors: Any, *args: Any, **kwargs: Any) -> Any:
            if session._live:
                session._guard("backward", session._before_backward, tensors)
            result = original(tensors, *args, **kwargs)
            if session._live:
                session._guard("backward", session._after_backward)
            return result

        return backward

    def _before_backward(self, tensors: Any) -> None:
        if self._pending_boundary:
            self._finalize()
        loss = tensors if isinstance(tensors, torch.Tensor) else next(iter_tensors(tensors), None)
        if loss is not None:
            self.collector.observe_loss(loss)

    def _after_backward(self) -> None:
        self._loss_ctx = None
        self._stepped = weakref.WeakSet()
        if not self.collector.activity:  # e.g. a Keras model under the torch backend: not ours
            self.collector.discard_step()
            return
        self._backward_seen = True
        self._backwards_since_step += 1
        if not self._optimizers or self._step_never_called():
            # no optimizer, or one that is never stepped (a missing ``optimizer.step()``): this backward is
            # the step; the grads may be zeroed soon
            self.collector.measure_grads()
            self._pending_boundary = True

    def _step_never_called(self) -> bool:
        """More backward passes than any gradient accumulation uses, and no optimizer step ever."""
        return not self._ever_stepped and self._backwards_since_step > MAX_ACCUMULATION

    # ------------------------------------------------------------------ optimizer
    def _wrap_opt_init(self, original: Callable[..., Any]) -> Callable[..., Any]:
        session = self

        @functools.wraps(original)
        def init(opt: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> None:
            original(opt, *args, **kwargs)
            if session._live:
                session._guard("optimizer", session._optimizers.add, opt)

        return init

    def _opt_pre(self, opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._live:
            self._guard("optimizer pre-hook", self._on_opt_pre, opt)

    def _on_opt_pre(self, opt: torch.optim.Optimizer) -> None:
        if self._pending_boundary and opt in self._stepped:
            self._finalize()
        elif self.collector.complete_pending():  # the last step's copy (GPU): judged before this update
            self._apply_policy()
        self._optimizers.add(opt)
        if not any(o["id"] == id(opt) for o in self._opt_infos):  # facts read once per optimizer
            self._opt_infos.append({"id": id(opt), "info": facts.optimizer_info(opt)})
            self._facts_dirty = True
        if not self.collector.activity or not self.collector.full:
            return  # a cheap step's gradients are measured with the weights, in one fused norm at its end
        self.collector.snapshot_params()
        self.collector.measure_grads()

    def _opt_post(self, opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._live:
            self._guard("optimizer hook", self._on_opt_post, opt)

    def _on_opt_post(self, opt: torch.optim.Optimizer) -> None:
        self._ever_stepped = True
        self._backwards_since_step = 0
        self._stepped.add(opt)
        self._last_opt = opt
        if not self.collector.activity:
            return
        if all(o in self._stepped for o in self._optimizers):
            self._finalize()
        else:
            self._pending_boundary = True

    # ------------------------------------------------------------------ the step
    def _finalize(self, policy: bool = True) -> None:
        """End the current step: one host transfer, monitor.record, then the policy."""
        self._pending_boundary = False
        self._backward_seen = False
        self._stepped = weakref.WeakSet()
        if not self.collector.activity:
            self.collector.discard_step()
            return
        lr = facts.current_lr(self._last_opt) if self._last_opt is not None else None
        self.collector.end_step(lr=lr)
        if policy:
            self._apply_policy()

    def _apply_policy(self) -> None:
        """--max-steps, then the on_fault policy on what the monitor has seen."""
        if self.max_steps is not None and self.collector.step >= self.max_steps:
            self.monitor.stopped_early = True
            raise StopTraining(f"deeplocalize: reached --max-steps {self.max_steps}")
        action = self.monitor.action()
        if action == OnFault.STOP:
            self.monitor.stopped_early = True
            raise StopTraining("deeplocalize: fault confirmed, training stopped")
        if action == OnFault.RAISE:
            raise FaultDetected(self.monitor.diagnosis())

    def _before_emit(self, record: StepRecord) -> None:
        if self.collector.layers_changed or self._facts_dirty:
            self._guard("model facts", self._push_model)

    def model_info(self) -> ModelInfo:
        """The model facts seen so far."""
        layers = [facts.layer_info(s.index, s.name, s.module, s.output_shape, s.unit_axis, s.params())
                  for s in self.collector.ordered() if s.index is not None]
        opt = self._opt_infos[0]["info"] if self._opt_infos else None
        info = ModelInfo(framework="torch", layers=layers, loss=self._loss, optimizer=opt,
                         data=self._data if (self._x_done or self._y_done) else None, task=self._task)
        if self._data.x_shape:
            info.batch_size = self._data.x_shape[0]
        if len(self._opt_infos) > 1:
            info.extra["optimizers"] = [o["info"].name for o in self._opt_infos]
        return info

    def _push_model(self) -> None:
        self.collector.layers_changed = False
        self._facts_dirty = False
        self.monitor.set_model(self.model_info())
