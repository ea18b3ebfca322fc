"""Are a model's gradients reset between its steps? (a training loop without ``zero_grad()``)

One parameter stands for the model: the first with a gradient among those its optimizer updates (any trained
tensor of a model stepped by hand). From one step's check (just before its update) to the next step's, the
watch follows that gradient: at the start of every backward in between it compares the gradient with the
one it last saw (a weak reference and the version counter, which every in-place change bumps), and after
each backward it takes the gradient as it is now. A gradient set to None, replaced or changed in place
between backwards (``zero_()``; clipping or unscaling too, so a reset is never missed where there was one,
at worst a missing one is) was reset in that interval. A change made through ``.data``
(``p.grad.data.zero_()``, common in older tutorials) bumps no version counter: a gradient that is the same
tensor at the same version is read, and one that holds only zeros was reset too (one small reduction and
host read per backward, only until the fact is made and only while no reset has been seen: a loop that
resets in any of the ways above never pays it). An interval with backwards and no reset means the step's
gradient added to the previous step's.

The interval spans every backward of the program, not only the model's own: a GAN's generator step runs
backward through the discriminator after the discriminator's update and before its ``zero_grad()``, which
then resets them before the discriminator's own backward. Deliberate accumulation over micro-batches resets
once per optimizer step, so it never qualifies.

A model whose gradient was never reset, over ``MIN_STEPS`` intervals in a row, is a fact (``ModelFacts``),
read by the ``gradients_not_reset`` detector; so is a reset once seen (``grads_reset_seen``: gradients
that grow step after step then do not accumulate, whatever else makes them grow). A few attribute reads
per backward.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from deeplocalize.probes import torch_facts as facts

#: Consecutive steps whose gradient was not reset (and none ever was) that make the fact.
MIN_STEPS = 3


@dataclass
class GradResetWatch:
    """The watch of one model (see the module docstring)."""

    param: Any = None  # a weak reference to the parameter that stands for the model
    kept: int = 0  # steps in a row whose gradient was not reset
    first_step: int | None = None  # the step whose gradient was the first one kept
    reset_seen: bool = False
    _open_at: int | None = None  # the step whose check opened the interval now followed
    _grad: Any = None  # a weak reference to the gradient last seen (None: it had none)
    _version: int = 0
    _backwards = 0  # backwards in the interval
    _reset = False  # a reset seen in the interval

    def note(self, opt: torch.optim.Optimizer | None, params: Iterable[torch.Tensor], step: int) -> bool:
        """The check of ``step``, before its update: close the interval since the previous check and open
        the next. ``opt``: the gradient followed is one it updates (those it does not are never reset by its
        ``zero_grad``), else one of ``params``. True when this makes a fact: the gradient was kept for
        ``MIN_STEPS`` steps, or it was reset for the first time."""
        if self.reset_seen:
            return False
        made = False
        if self._open_at is not None and (self._backwards or self._reset):
            if self._reset:
                self.reset_seen = True
                self.kept, self.first_step = 0, None
                return True
            self.kept += 1
            self.first_step = self._open_at if self.first_step is None else self.first_step
            made = self.kept == MIN_STEPS
        param = self.param() if self.param is not None else None
        if param is None or param.grad is None:
            if opt is not None:
                params = facts.optimizer_params(opt)
            param = next((p for p in params if p.grad is not None), None)
            self.param = weakref.ref(param) if param is not None else None
        self._open_at = step if param is not None else None
        self._backwards, self._reset = 0, False
        self._see()
        return made

    def before_backward(self) -> None:
        """A backward starts: was the gradient reset since it was last seen?"""
        if self._open_at is None or self._reset:
            return
        grad = self._current()
        if self._grad is None:  # it had none: one now was put there (a backward would have counted)
            self._reset = grad is not None
        elif grad is None or grad is not self._grad() or grad._version != self._version:
            self._reset = True  # (a weak reference to a freed gradient gives None: never ``grad``)
        elif self.kept < MIN_STEPS:  # the same tensor, unchanged as autograd knows: zeroed through .data?
            with torch.no_grad():  # (a sparse gradient is taken for reset: a miss at worst, never an alarm)
                self._reset = grad.is_sparse or not bool(grad.any())

    def after_backward(self) -> None:
        """A backward ended: count it, and take the gradient as it is now."""
        if self._open_at is None or self._reset:
            return
        self._backwards += 1
        self._see()

    def _see(self) -> None:
        grad = self._current()
        self._grad = weakref.ref(grad) if grad is not None else None
        self._version = grad._version if grad is not None else 0

    def established(self) -> int | None:
        """The step from which the gradient was never reset, once that held for ``MIN_STEPS`` steps."""
        return self.first_step if self.kept >= MIN_STEPS and not self.reset_seen else None

    def _current(self) -> torch.Tensor | None:
        param = self.param() if self.param is not None else None
        return param.grad if param is not None else None
