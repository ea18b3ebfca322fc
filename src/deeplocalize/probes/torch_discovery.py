"""Finding the models an unmodified script trains (``instrument``; ``watch`` is given its model).

- Modules: while a model is to be found (at the start, and after a new optimizer is created), a global
  forward pre-hook takes the first module with trainable parameters called in training mode as a model
  (also a Keras model in a loop of the script's own); once one is, it takes only a module that holds the
  parameters of an optimizer no model owns yet (an encoder's and a decoder's optimizers: both models from
  their first step). It is removed as soon as every optimizer's model is found, or at the end of that
  step, so ordinary steps run no per-layer code.
- Bare tensors: a backward that finds no model at all makes the tensors its loss trains a model
  (``torch_bare``: a from-scratch program with no ``nn.Module``), unless that loss also reaches the
  parameters of a module the script ran (an attack or a saliency map on a model in eval mode is not
  training); a model found later replaces them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from deeplocalize.compat import torch as compat
from deeplocalize.errors import FaultDetected, StopTraining
from deeplocalize.probes import torch_bare
from deeplocalize.probes import torch_facts as facts
from deeplocalize.probes.torch_layers import is_keras_module, keras_model_in_own_loop, trainable

if TYPE_CHECKING:
    from deeplocalize.probes.torch_session import TorchSession
    from deeplocalize.probes.torch_unit import ModelUnit


#: Backward passes with no model watched after which a script is taken for one that trains no bare
#: tensors either (an attack or a saliency map on a model in eval mode): no more looking.
MAX_REFUSED = 3
#: Steps of an optimizer none of whose parameters is a watched model's or has a gradient, each after a
#: backward through a watched model no optimizer steps, after which it is taken for that model's optimizer,
#: built on another copy of it (own choice: a deliberate no-op step, say a GAN's idle discriminator, does not
#: last that long while its model's gradients come and go unapplied).
STALE_STEPS = 10


def owns_any(unit: ModelUnit, params: list[torch.Tensor]) -> bool:
    """Whether any of an optimizer's ``params`` is ``unit``'s model's: the first one usually decides; a
    module replaced after the optimizer was built leaves its old parameters there, first or not."""
    if not params or unit.owns(params[0]):
        return bool(params)
    mine = {id(p) for p in unit.eager.parameters()}
    return any(id(p) in mine or unit.table.owner(p) is not None for p in params[1:])


def owner_of_optimizer(units: list[ModelUnit], params: list[torch.Tensor]) -> ModelUnit | None:
    """The model an optimizer's ``params`` train: one that holds them all (a classifier built on an
    encoder that an autoencoder trained before it holds the encoder's parameters and its own head's), else
    the first that holds any (a layer replaced after the optimizer was built left its old ones there)."""
    holders = [u for u in units if owns_any(u, params)]
    if len(holders) > 1:
        ids = {id(p) for p in params}
        whole = next((u for u in holders if ids <= {id(p) for p in u.eager.parameters()}), None)
        if whole is not None:
            return whole
    return holders[0] if holders else None


class Discovery:
    """The session's search for the models it watches."""

    def __init__(self, session: TorchSession) -> None:
        self.session = session
        self.known: weakref.WeakSet[nn.Module] = weakref.WeakSet()  # every module of every unit
        self.called: weakref.WeakSet[nn.Module] = weakref.WeakSet()  # modules run while none was watched
        self._handle: Any = None
        self._unquiet: Callable[[], None] | None = None  # undoes ``compat.quiet_global_hook_warning``
        self._bare_refused = 0  # losses that trained a module's parameters too: not a program without one
        self._lingering = False  # armed only for another optimizer's model in the step that found one
        #: the parameters of optimizers made for a new model that holds some of a watched model's (looked
        #: for in the step after their optimizer was made)
        self._supersets: list[list[torch.Tensor]] = []
        #: optimizers stepping none of a watched model's parameters: steps in a row (``stale_optimizer``)
        self._stale: weakref.WeakKeyDictionary[torch.optim.Optimizer, int] = weakref.WeakKeyDictionary()
        #: optimizers taken as a watched model's (``stale_optimizer``): no model of theirs is looked for
        self._adopted: weakref.WeakSet[torch.optim.Optimizer] = weakref.WeakSet()

    def known_from(self, root: nn.Module) -> None:
        """Every module of a new unit's model is known (never taken for a model of its own)."""
        for module in compat.eager_module(root).modules():
            self.known.add(module)
        self.known.add(root)

    def new_optimizer(self, opt: torch.optim.Optimizer) -> None:
        """An optimizer was created: its model is looked for at its first training forward when no watched
        model holds any of its parameters, or (for one step) when a watched model holds only some of them:
        a new model built on a part of a watched one (a classifier on a pretrained encoder)."""
        params = facts.optimizer_params(opt)
        units = self.session.units
        if not (self.session.auto_roots and params):
            return
        holders = [u for u in units if owns_any(u, params)]
        if not holders:
            self.arm()
            return
        held = {id(p) for u in holders for p in u.eager.parameters()}
        if any(id(p) not in held for p in params):
            self.arm()
            self._supersets.append(params)
            self._lingering = True

    def stale_optimizer(self, opt: torch.optim.Optimizer, last: ModelUnit | None) -> ModelUnit | None:
        """The model ``opt`` was meant to step, when it was built on another copy of it (the model made again
        after the optimizer): ``opt`` holds no watched model's parameters and none of them has a gradient,
        while ``last``, which ran this step and has gradients, is stepped by no optimizer. After
        ``STALE_STEPS`` such steps ``opt`` is taken as ``last``'s (its weights then never change) and the
        fact is noted (``stale_optimizer``). None otherwise."""
        params = facts.optimizer_params(opt)
        if (last is None or last.optimizers or last.bare or any(p.grad is not None for p in params)
                or not any(p.grad is not None for p in last.eager.parameters())):
            self._stale.pop(opt, None)
            return None
        self._stale[opt] = seen = self._stale.get(opt, 0) + 1
        if seen < STALE_STEPS:
            return None
        del self._stale[opt]
        self.session.adopt_optimizer(last, opt)
        self._adopted.add(opt)
        if not self.unowned_optimizer_params():
            self.disarm()  # its own model is not looked for any more: no global hook on every later forward
        last.facts.stale_optimizer = last.facts.dirty = True
        return last

    def arm(self) -> None:
        """Look for a model at the next training forward of a module nobody watches."""
        self._lingering = False
        if self._handle is None and self.session.auto_roots:
            self._handle = nn.modules.module.register_module_forward_pre_hook(self._on_forward)
            if self._unquiet is None:  # for the rest of the session (``close``): a user's
                self._unquiet = compat.quiet_global_hook_warning()  # catch_warnings may restore old filters

    def disarm(self) -> None:
        self._lingering = False
        self._supersets.clear()
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def close(self) -> None:
        """The session ends: no global hook, and the warning filters as they were."""
        self.disarm()
        if self._unquiet is not None:
            self._unquiet()
            self._unquiet = None

    def step_ended(self) -> None:
        """An optimizer step ended: an optimizer whose model did not run in it (made and never used) keeps
        no global hook on every later forward."""
        if self._lingering:
            self.disarm()

    def unowned_optimizer_params(self) -> list[torch.Tensor]:
        """The parameters of the optimizers created so far that no watched model owns (none of their
        parameters is a watched model's)."""
        session = self.session
        params = [facts.optimizer_params(o) for o in list(session.created) if o not in self._adopted]
        return [p for group in params if group and not any(owns_any(u, group) for u in session.units)
                for p in group]

    def _holds_superset(self, module: nn.Module) -> list[torch.Tensor] | None:
        """The parameters of a new optimizer that ``module`` holds all of (``new_optimizer``), if any."""
        if not self._supersets:
            return None
        mine = {id(p) for p in module.parameters()}
        return next((ps for ps in self._supersets if all(id(p) in mine for p in ps)), None)

    def _holds_unowned(self, module: nn.Module) -> bool:
        pending = {id(p) for p in self.unowned_optimizer_params()}
        return any(id(p) in pending for p in module.parameters())

    def _on_forward(self, module: nn.Module, args: Any) -> None:
        session = self.session
        if not session.live or compat.is_compiling():
            return
        try:
            if module in self.known:
                return
            self.called.add(module)
            if not (torch.is_grad_enabled() and module.training):
                return
            if facts.is_loss_module(module) or not trainable(module) or (
                    is_keras_module(module) and not keras_model_in_own_loop(module, args)):
                return  # a loss, an augmentation module, a Keras layer or a model Model.fit trains
            superset = self._holds_superset(module)
            if session.units and not superset and not self._holds_unowned(module):
                return  # a model is watched: only the model of an optimizer nobody owns is wanted
            unit = session.add_unit(module, "")
            if superset:
                self._supersets = [ps for ps in self._supersets if ps is not superset]
            if self.unowned_optimizer_params() or self._supersets:
                self._lingering = True  # another optimizer's model may run next: an encoder's decoder
            else:
                self.disarm()
            unit.first_call(module, args)  # this call's hooks were listed before the unit existed
        except (StopTraining, FaultDetected):
            raise
        except Exception as exc:
            session.monitor.tool_error("torch probe discovery", exc)

    def bare_unit(self, loss: torch.Tensor | None) -> ModelUnit | None:
        """The unit of the tensors a script trains with no module, made at the first backward that finds
        no model watched (None: there is a model, or this loss trains nothing)."""
        session = self.session
        if session.units:
            return session.units[0] if session.units[0].bare else None
        if (not session.auto_roots or loss is None or not loss.requires_grad or torch_bare.inside_keras_fit()
                or self._bare_refused >= MAX_REFUSED):
            return None  # (a Keras ``fit`` is its callback's to watch)
        model = torch_bare.adopt(loss, exclude_owners=list(self.called))
        if model is None:
            self._bare_refused += 1
            return None
        unit = session.add_unit(model, "")
        self.disarm()
        session.note_output(unit, None)  # its loss's backward is this unit's
        return unit
