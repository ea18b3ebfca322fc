"""A target network (``torch_target_net``): a copy of the model loaded with its live weights and run during
its steps makes the model's loss chase its own targets, so the curve detectors leave it alone; a copy kept
aside (early stopping's best model) does not."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402, N812
from torch import nn  # noqa: E402

import deeplocalize as dl  # noqa: E402
from deeplocalize.vocabulary import Verdict  # noqa: E402


def _q_learning(target_in_step: bool) -> tuple[dl.Diagnosis, dict]:
    """Q-learning on random transitions with reward 1 and gamma 0.99: the values grow towards 100, so the
    TD loss rises with every sync of the target network (DQN's hard update every 10 steps)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
    target = copy.deepcopy(net)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    states = torch.randn(512, 4)
    with dl.watch(net, opt, on_fault="continue", store=False) as run:
        for step in range(400):
            if step % 10 == 0:
                target.load_state_dict(net.state_dict())
            i = (step * 32) % 480
            s, s_next = states[i:i + 32], states[i + 1:i + 33]
            with torch.no_grad():
                bootstrap = target(s_next).max(1).values if target_in_step else torch.zeros(32)
            q = net(s).max(1).values
            loss = F.mse_loss(q, 1.0 + 0.99 * bootstrap)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert run.diagnosis is not None and run.diagnosis.tool_errors == []
    return run.diagnosis, run.monitor.model.extra


def test_a_target_network_run_in_the_steps_turns_the_curve_detectors_off() -> None:
    d, facts = _q_learning(target_in_step=True)
    assert facts.get("target_network") is True
    assert d.verdict != Verdict.FAULTY, [f.message for f in d.findings]


def test_a_copy_kept_aside_is_no_target_network() -> None:
    """The same copies, never run during a step (a best-so-far model): the model's curve is judged."""
    _, facts = _q_learning(target_in_step=False)
    assert "target_network" not in facts
