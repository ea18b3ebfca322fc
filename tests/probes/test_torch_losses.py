"""Who is trained on whose output (``LossOwners``), told from the order of losses, backwards and steps."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("torch")
from deeplocalize.probes.torch_losses import LossOwners


def _unit(name: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, facts=SimpleNamespace(adversarial=False, dirty=False))


def _step(owners: LossOwners, loss_owner: SimpleNamespace, stepped: SimpleNamespace) -> None:
    """One loss computed from ``loss_owner``'s output, its backward, then ``stepped``'s optimizer."""
    owners.saw(loss_owner)
    owners.backward(None, lambda loss: None)
    owners.stepped(stepped, 1)


@pytest.mark.parametrize("generator_first", [False, True])
def test_a_gan_is_two_adversaries_whichever_model_steps_first(generator_first: bool) -> None:
    gen, disc, owners = _unit("G"), _unit("D"), LossOwners()
    for _ in range(3):
        if generator_first:
            _step(owners, disc, gen)  # the generator's loss is the discriminator's output
            _step(owners, disc, disc)
        else:
            _step(owners, disc, disc)
            _step(owners, disc, gen)
    assert gen.facts.adversarial and disc.facts.adversarial


def test_a_model_trained_through_one_that_no_longer_steps_is_no_adversary() -> None:
    """A model trained earlier, then run inside a bigger one whose output is its own (or a frozen feature
    network of a perceptual loss): its optimizer never steps again, so nothing is trained against it."""
    inner, outer, owners = _unit("inner"), _unit("outer"), LossOwners()
    for _ in range(3):
        _step(owners, inner, inner)  # trained on its own first
    for _ in range(5):
        _step(owners, inner, outer)  # then only the model that holds it steps on its output
    owners.settle()
    assert not inner.facts.adversarial and not outer.facts.adversarial


def test_two_parts_of_one_model_stepped_after_one_backward_are_no_adversaries() -> None:
    encoder, decoder, owners = _unit("enc"), _unit("dec"), LossOwners()
    for _ in range(3):
        owners.saw(decoder)
        owners.backward(None, lambda loss: None)
        owners.stepped(encoder, 1)
        owners.stepped(decoder, 1)
    owners.settle()
    assert not encoder.facts.adversarial and not decoder.facts.adversarial
