"""A target network (``torch_target_net``): a copy of the model loaded with its live weights and run during
its steps makes the model's loss chase its own targets, so the curve detectors leave it alone; a copy kept
aside (early stopping's best model) does not. Nor do they judge a model that bootstraps its targets from
itself (``ModelFacts.self_fed``), unlike one evaluated without ``model.eval()`` once an epoch."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402, N812
from torch import nn  # noqa: E402

import deeplocalize as dl  # noqa: E402
from deeplocalize.vocabulary import Verdict  # noqa: E402

Bootstrap = Callable[[nn.Module, int, torch.Tensor], torch.Tensor]


def _train_q(bootstrap: Bootstrap) -> tuple[dl.Diagnosis, dict]:
    """Q-learning on random transitions with reward 1 and gamma 0.99, its TD targets from
    ``bootstrap(net, step, next_states)``: the values grow towards 100, so the TD loss rises."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    states = torch.randn(512, 4)
    with dl.watch(net, opt, on_fault="continue", store=False) as run:
        for step in range(400):
            i = (step * 32) % 480
            s, s_next = states[i:i + 32], states[i + 1:i + 33]
            with torch.no_grad():
                targets = 1.0 + 0.99 * bootstrap(net, step, s_next)
            loss = F.mse_loss(net(s).max(1).values, targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert run.diagnosis is not None and run.diagnosis.tool_errors == []
    return run.diagnosis, run.monitor.model.extra


def _q_learning(target_in_step: bool) -> tuple[dl.Diagnosis, dict]:
    """With a target network synced every 10 steps (DQN's hard update), run in the step or kept aside."""
    copies: list[nn.Module] = []

    def from_target(net: nn.Module, step: int, s_next: torch.Tensor) -> torch.Tensor:
        if not copies:
            copies.append(copy.deepcopy(net))
        if step % 10 == 0:
            copies[0].load_state_dict(net.state_dict())
        return copies[0](s_next).max(1).values if target_in_step else torch.zeros(len(s_next))

    return _train_q(from_target)


def test_a_target_network_run_in_the_steps_turns_the_curve_detectors_off() -> None:
    d, facts = _q_learning(target_in_step=True)
    assert facts.get("target_network") is True
    assert d.verdict != Verdict.FAULTY, [f.message for f in d.findings]


def test_a_copy_kept_aside_is_no_target_network() -> None:
    """The same copies, never run during a step (a best-so-far model): the model's curve is judged."""
    _, facts = _q_learning(target_in_step=False)
    assert "target_network" not in facts


def _bootstrapped(own_targets: bool) -> tuple[dl.Diagnosis, dict]:
    """Q-learning bootstrapped from the network itself, without a target network (PQN, simple DQN
    tutorials): the TD targets come from its own forward under ``no_grad`` before every step. Or a
    supervised run evaluated without ``model.eval()`` once an "epoch" of 15 steps."""

    def from_itself(net: nn.Module, step: int, s_next: torch.Tensor) -> torch.Tensor:
        if own_targets:
            return net(s_next).max(1).values
        if step % 15 == 0:
            net(s_next)  # the evaluation
        return torch.zeros(len(s_next))

    return _train_q(from_itself)


def test_targets_bootstrapped_from_the_model_itself_turn_the_curve_detectors_off() -> None:
    d, facts = _bootstrapped(own_targets=True)
    assert facts.get("self_fed") is True
    assert d.verdict != Verdict.FAULTY, [f.message for f in d.findings]


def test_an_evaluation_without_eval_mode_once_an_epoch_does_not_make_a_model_self_fed() -> None:
    _, facts = _bootstrapped(own_targets=False)
    assert "self_fed" not in facts
