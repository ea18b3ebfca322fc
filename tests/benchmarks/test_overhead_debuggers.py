"""The comparison debuggers of the overhead benchmark do what their docstrings say."""

from __future__ import annotations

import torch
from benchmarks.overhead.debuggers import fused_check_floor
from torch import nn


def _step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor) -> None:
    opt.zero_grad()
    model(x).pow(2).mean().backward()
    opt.step()


def test_the_floor_check_reads_every_step_and_sees_a_nan_gradient() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(16, 4)
    with fused_check_floor(model, opt) as seen:
        _step(model, opt, x)
        _step(model, opt, x)
        _step(model, opt, torch.full((16, 4), float("nan")))
    assert seen == [True, True, False]
    assert not opt._optimizer_step_pre_hooks  # removed on exit
