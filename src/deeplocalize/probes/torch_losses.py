"""A step's losses on their way to the models their optimizers train, and who is trained on whose output.

- ``StepLosses``: the losses of the backward passes since the last optimizer step. Every optimizer that
  steps after them gets them: an encoder's and a decoder's optimizers, stepping after one backward, share
  its loss (the second one used to get none).
- ``LossOwners``: a model stepped on a loss computed from another model's output, whose own optimizer does
  not step on that loss too but steps on a later one of its own, is trained adversarially (a GAN's generator
  through its discriminator): neither model's loss is then meant to go down. An encoder and its decoder,
  both stepped after one backward, are one model in two parts, not adversaries; nor is a model trained
  through one whose optimizer no longer steps (a frozen feature network of a perceptual loss, a model
  trained earlier and now wrapped in a bigger one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from deeplocalize.probes.torch_unit import ModelUnit


class StepLosses:
    """The losses of the backward passes since the last optimizer step (see the module docstring)."""

    def __init__(self) -> None:
        self._pending: list[torch.Tensor] = []
        self._taken: list[torch.Tensor] = []

    def backward(self, loss: torch.Tensor | None) -> None:
        """A backward pass of ``loss`` begins (None: nothing to read as a loss)."""
        self._taken = []
        if loss is not None:
            self._pending.append(loss)

    def take(self) -> list[torch.Tensor]:
        """The losses for an optimizer's step: the pending ones, or those the step before took since the
        last backward (another optimizer of the same backward)."""
        if self._pending:
            self._taken, self._pending = self._pending, []
        return self._taken

    def drop(self) -> None:
        self._pending = []


class LossOwners:
    """Whose output the last loss was computed from, and which models train adversarially."""

    def __init__(self) -> None:
        self.owner: ModelUnit | None = None  # the unit whose output the last loss received
        self._owner_stepped = False  # the owner's own optimizer has stepped since that loss
        self._fresh = False  # a loss function was called since the last backward
        self._cross: list[tuple[ModelUnit, ModelUnit]] = []  # (stepped unit, the loss's owner) to settle
        self._settled: list[tuple[ModelUnit, ModelUnit]] = []  # such pairs, until the owner steps on its own

    def saw(self, owner: ModelUnit | None) -> None:
        """A loss was computed from ``owner``'s output."""
        self.owner, self._owner_stepped, self._fresh = owner, False, True

    def backward(self, loss: torch.Tensor | None,
                 owner_of: Callable[[torch.Tensor], ModelUnit | None]) -> None:
        """A backward pass of ``loss`` begins: the last step's pairs are settled, and a loss no loss
        function made (a WGAN's critic score, ``-D(G(z)).mean()``) is owned by the model whose output it is
        made from (``owner_of``)."""
        self.settle()
        if not self._fresh and isinstance(loss, torch.Tensor):
            self.saw(owner_of(loss))
        self._fresh = False

    def stepped(self, unit: ModelUnit, losses: int) -> None:
        """``unit``'s optimizer steps on the last loss (``losses``: the backward passes its step took; a
        part of one model is told only from one, as a GAN can run both its losses' backward first)."""
        owner, single = self.owner, losses <= 1
        for stepped, adversary in [(u, o) for u, o in self._settled if o is unit]:
            stepped.facts.adversarial = adversary.facts.adversarial = True
            stepped.facts.dirty = adversary.facts.dirty = True
        self._settled = [(u, o) for u, o in self._settled if o is not unit]
        if owner is unit and single:  # the owner steps on it too: whoever stepped on it is a part of it
            self._owner_stepped = True
            self._cross = [(u, o) for u, o in self._cross if o is not unit]
        elif owner is not None and owner is not unit and not (self._owner_stepped and single) and not (
                unit.facts.adversarial and owner.facts.adversarial):
            self._cross.append((unit, owner))

    def settle(self) -> None:
        """At the next backward and at the end: the models stepped on another one's loss alone become
        adversaries when that one's optimizer steps next (``stepped``)."""
        self._settled += [pair for pair in self._cross if pair not in self._settled]
        self._cross = []
