"""bf16 weights under the torch probe: updates rounded away are found (a fault with the stall they cause,
a warning when the run still learns)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402, N812
from torch import nn  # noqa: E402

import deeplocalize as dl  # noqa: E402
from deeplocalize.vocabulary import Symptom  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import _torch_models as tm  # noqa: E402


def train_bf16(lr: float, steps: int = 200) -> dl.Diagnosis:
    model = tm.mlp(dropout=False).to(torch.bfloat16)
    x, y = tm.blobs(n=256)
    x = x.to(torch.bfloat16)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    with dl.watch(model, opt, store=False, on_fault="continue") as run:
        for _ in range(steps):
            i = torch.randint(0, 256, (32,), generator=g)
            loss = F.cross_entropy(model(x[i]).float(), y[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert run.diagnosis is not None
    return run.diagnosis


def test_bf16_updates_below_the_weights_resolution_are_the_root_cause_of_the_stall() -> None:
    diagnosis = train_bf16(lr=1e-3)
    assert diagnosis.verdict == dl.Verdict.FAULTY
    lost = [f for f in diagnosis.faults if f.symptom == Symptom.LOST_UPDATES]
    assert lost and lost[0].layer is not None
    top = diagnosis.root_causes[0]
    assert top.category == dl.Category.OPTIMIZER and "fp32 master weights" in top.fix


def test_bf16_training_that_learns_is_healthy_with_a_warning_at_most() -> None:
    diagnosis = train_bf16(lr=0.1)
    assert diagnosis.verdict == dl.Verdict.HEALTHY
    assert all(f.symptom == Symptom.LOST_UPDATES for f in diagnosis.warnings)


class Growing(nn.Module):
    """Multiplies by a factor the test raises every step: its float16 outputs climb toward 65504."""

    def __init__(self) -> None:
        super().__init__()
        self.factor = 100.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def test_float16_outputs_climbing_to_the_limit_are_warned_of_then_the_overflow_is_found_there() -> None:
    torch.manual_seed(0)
    grow = Growing()
    model = nn.Sequential(nn.Linear(8, 32), grow, nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))
    x, y = tm.blobs(n=256)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    with dl.watch(model, opt, store=False, on_fault="continue") as run:
        for step in range(60):
            grow.factor = 100.0 * 1.15 ** step
            j = (step * 32) % 256
            with torch.autocast("cpu", dtype=torch.float16):
                loss = F.cross_entropy(model(x[j:j + 32]), y[j:j + 32])
            opt.zero_grad()
            loss.backward()
            opt.step()
    diagnosis = run.diagnosis
    risk = next(f for f in diagnosis.findings if f.symptom == Symptom.OVERFLOW_RISK)
    nan = next(f for f in diagnosis.faults if f.symptom == Symptom.NUMERICAL_ERROR)
    assert risk.layer is not None and risk.layer.index == 1 and risk.step < nan.step
    assert nan.layer is not None and nan.layer.index == 1
    top = diagnosis.root_causes[0]
    assert top.layer is not None and top.layer.index == 1
