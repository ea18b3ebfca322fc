"""A loop that never resets its gradients is seen directly; every usual way of resetting them is not."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402, N812
from torch import nn  # noqa: E402

import deeplocalize as dl  # noqa: E402
from deeplocalize.monitor import Monitor  # noqa: E402
from deeplocalize.probes.torch import instrument  # noqa: E402
from deeplocalize.probes.torch_grad_reset import MIN_STEPS, GradResetWatch  # noqa: E402
from deeplocalize.vocabulary import Category, Symptom  # noqa: E402

torch.set_num_threads(1)


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.rand(200, 1) * 10
    return x, 3 * x + 5 + torch.randn(200, 1)


def _module_loop(reset: str, steps: int = 40, accumulate: int = 1, clip: bool = False) -> dl.Diagnosis:
    """``reset``: "none" (the bug), "to_none", "zero" (set_to_none=False), "first" (at the loop's start)."""
    x, y = _data()
    model = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    with dl.watch(model, opt, store=False) as run:
        for _ in range(steps):
            if reset == "first":
                opt.zero_grad()
            for _ in range(accumulate):
                (F.mse_loss(model(x), y) / accumulate).backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if reset in ("to_none", "zero"):
                opt.zero_grad(set_to_none=reset == "to_none")
    assert run.diagnosis is not None
    return run.diagnosis


def _not_reset(d: dl.Diagnosis) -> list:
    return [f for f in d.findings if f.evidence.get("pattern") == "not_reset"]


@pytest.mark.parametrize("clip", [False, True])
def test_a_loop_without_zero_grad_is_a_training_fault_from_its_first_step(clip: bool) -> None:
    d = _module_loop("none", clip=clip)  # clipping changes the gradients in place, before the check
    found = _not_reset(d)
    assert [(f.symptom, f.step, f.severity) for f in found] == [(Symptom.EXPLODING_GRADIENT, 1, "fault")]
    assert d.root_causes[0].category == Category.TRAINING and "zero_grad()" in d.root_causes[0].fix


@pytest.mark.parametrize("reset,accumulate", [("to_none", 1), ("zero", 1), ("first", 1), ("to_none", 3)])
def test_every_usual_reset_and_deliberate_accumulation_are_not_reported(reset: str, accumulate: int) -> None:
    assert _not_reset(_module_loop(reset, accumulate=accumulate)) == []


@pytest.mark.parametrize("zero", [False, True])
def test_tensors_updated_by_hand_without_zeroing(zero: bool) -> None:
    x, y = _data()
    w, b = torch.randn(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    with dl.watch([w, b], store=False) as run:
        for _ in range(40):
            (0.5 * (y - (w * x + b)) ** 2).mean().backward()
            w.data.sub_(0.01 * w.grad)
            b.data.sub_(0.01 * b.grad)
            if zero:
                w.grad.zero_()
                b.grad.zero_()
    assert run.diagnosis is not None
    found = _not_reset(run.diagnosis)
    if zero:
        assert found == []
    else:
        assert len(found) == 1 and "w.grad.zero_()" in run.diagnosis.root_causes[0].fix


def test_a_gan_whose_generator_step_also_fills_the_discriminators_gradients_is_not_reported() -> None:
    """The generator's backward runs through the discriminator after the discriminator's update, without
    resetting its gradients: the discriminator zeroes them before its own next backward."""
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    disc = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    opt_g, opt_d = torch.optim.Adam(gen.parameters(), 1e-3), torch.optim.Adam(disc.parameters(), 1e-3)
    monitor = Monitor("torch", dl.Config(), on_fault="stop")
    with instrument(monitor):
        for _ in range(40):
            real, fake = torch.randn(32, 2) + 3, gen(torch.randn(32, 4))
            opt_d.zero_grad()
            (F.binary_cross_entropy_with_logits(disc(real), torch.ones(32, 1))
             + F.binary_cross_entropy_with_logits(disc(fake.detach()), torch.zeros(32, 1))).backward()
            opt_d.step()
            opt_g.zero_grad()
            F.binary_cross_entropy_with_logits(disc(fake), torch.ones(32, 1)).backward()
            opt_g.step()
    diagnosis = monitor.finish(completed=True)
    assert len(diagnosis.models) == 2
    for model_diagnosis in diagnosis.models:
        assert _not_reset(model_diagnosis) == []


def test_the_watch_counts_steps_in_a_row_and_a_reset_ends_it_for_good() -> None:
    p = torch.zeros(3, requires_grad=True)
    watch = GradResetWatch()
    watch.before_backward()
    watch.after_backward()  # nothing noted yet: nothing followed
    p.grad = torch.ones(3)
    made = []
    for step in range(1, MIN_STEPS + 2):
        made.append(watch.note(None, [p], step))
        watch.before_backward()
        p.grad.add_(1.0)  # the backward accumulates into it
        watch.after_backward()
    assert made == [False] * MIN_STEPS + [True] and watch.established() == 1
    watch.note(None, [p], MIN_STEPS + 2)
    p.grad.zero_()
    watch.before_backward()
    watch.after_backward()
    assert watch.note(None, [p], MIN_STEPS + 3)  # the first reset is a fact too (the facts change)
    assert watch.reset_seen and watch.established() is None
    assert not watch.note(None, [p], MIN_STEPS + 4)  # and nothing after it


def test_two_checks_without_a_backward_between_them_are_no_evidence() -> None:
    p = torch.zeros(3, requires_grad=True)
    p.grad = torch.ones(3)
    watch = GradResetWatch()
    assert not any(watch.note(None, [p], step) for step in range(1, 10))
    assert watch.kept == 0


def test_a_reset_through_data_is_seen_by_its_values() -> None:
    """``p.grad.data.zero_()`` bumps no version counter (older tutorials, d2l): the zeros are read."""
    x, y = _data()
    model = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    w, b = torch.randn(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    with dl.watch(model, opt, store=False) as run:
        for _ in range(40):
            F.mse_loss(model(x), y).backward()
            opt.step()
            for p in model.parameters():
                p.grad.data.zero_()
    with dl.watch([w, b], store=False) as by_hand:
        for _ in range(40):
            (0.5 * (y - (w * x + b)) ** 2).mean().backward()
            for p in (w, b):
                p.data.sub_(0.01 * p.grad)
                p.grad.data.zero_()
    for diagnosis in (run.diagnosis, by_hand.diagnosis):
        assert diagnosis is not None and _not_reset(diagnosis) == []


def test_an_unchanged_gradient_is_read_only_until_the_fact_is_made() -> None:
    p = torch.zeros(3, requires_grad=True)
    p.grad = torch.ones(3)
    watch = GradResetWatch()
    for step in range(1, MIN_STEPS + 2):
        watch.note(None, [p], step)
        watch.before_backward()
        p.grad.data.add_(1.0)  # accumulates, and bumps no version
        watch.after_backward()
    assert watch.established() == 1
    watch.note(None, [p], MIN_STEPS + 2)
    p.grad.data.zero_()  # after the fact: not read any more (a device read per backward in a faulty run)
    watch.before_backward()
    watch.after_backward()
    watch.note(None, [p], MIN_STEPS + 3)
    assert watch.established() == 1
