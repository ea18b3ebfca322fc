"""A Keras optimizer's ``apply`` in a training loop of the script's own (torch backend), seen by the torch
session as an optimizer step.

Keras optimizers are not ``torch.optim`` optimizers, so torch's step hooks never see them. While a Keras
model is watched by the torch session (``torch_layers.keras_model_in_own_loop``), ``BaseOptimizer.apply``
is wrapped: before the update the session's pre-step logic runs (the fused check, the policy: a stop comes
before the faulty update), after it the post-step logic (the step ends once every optimizer of the model has
stepped). The session sees each Keras optimizer through a ``KerasOptimizerView``: its variables' tensors as
one parameter group, its learning rate, and its facts from ``keras_facts``. So a GAN trained by two Keras
optimizers is two models, each with its own steps, as with torch optimizers. Inside ``Model.fit`` the
wrapper does nothing (the Keras callback watches fit).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

from deeplocalize.model import OptimizerInfo

_HOOKED: weakref.WeakSet[Any] = weakref.WeakSet()  # the torch sessions whose Keras apply is wrapped


class KerasOptimizerView:
    """A Keras optimizer as the torch session reads an optimizer (``param_groups``, ``optimizer_info``)."""

    def __init__(self, optimizer: Any) -> None:
        self._optimizer = weakref.ref(optimizer)
        self.param_groups: list[dict[str, Any]] = [{"params": [], "lr": None}]

    def __repr__(self) -> str:
        return f"KerasOptimizerView({type(self._optimizer()).__name__})"

    def refresh(self, variables: list[Any]) -> None:
        """The variables this ``apply`` updates, and the learning rate now."""
        from deeplocalize.probes import keras_facts

        self.param_groups[0]["params"] = [getattr(v, "value", v) for v in variables]
        optimizer = self._optimizer()
        self.param_groups[0]["lr"] = None if optimizer is None else keras_facts.current_lr(optimizer)

    def optimizer_info(self) -> OptimizerInfo | None:
        """The Keras optimizer's facts (name, learning rate, momentum, betas, epsilon, clipping)."""
        from deeplocalize.probes import keras_facts

        return keras_facts.optimizer_info(self._optimizer())


def wrap_apply(before: Callable[[KerasOptimizerView], None], after: Callable[[KerasOptimizerView], None],
               live: Callable[[], bool]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A maker for ``compat.Patch.replace(BaseOptimizer, "apply", ...)``: ``before(view)`` and
    ``after(view)`` around each ``apply`` of a training loop of the script's own, while ``live()``."""
    views: weakref.WeakKeyDictionary[Any, KerasOptimizerView] = weakref.WeakKeyDictionary()

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def apply(optimizer: Any, grads: Any, trainable_variables: Any = None) -> Any:
            from deeplocalize.probes.keras import fitting

            if not live() or fitting():
                return original(optimizer, grads, trainable_variables)
            view = views.get(optimizer)
            if view is None:
                view = views[optimizer] = KerasOptimizerView(optimizer)
            variables = list(trainable_variables) if trainable_variables is not None else list(
                getattr(optimizer, "_trainable_variables", []))
            view.refresh(variables)
            before(view)
            result = original(optimizer, grads, trainable_variables)
            after(view)
            return result

        return apply

    return make


def install(session: Any) -> None:
    """Wrap Keras's ``Optimizer.apply`` for ``session`` (a ``TorchSession``; once; undone with its patches):
    its apply calls go through the session's optimizer pre- and post-step hooks."""
    if session in _HOOKED:
        return
    import keras

    _HOOKED.add(session)
    session._patch.replace(keras.optimizers.Optimizer, "apply", wrap_apply(
        lambda view: session._opt_pre(view, (), {}), lambda view: session._opt_post(view, (), {}),
        lambda: session.live))
