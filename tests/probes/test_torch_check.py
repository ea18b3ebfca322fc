"""The every-step check: the usual step's one-kernel path measures exactly what the grouped path does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deeplocalize import summary
from deeplocalize.probes import torch_reduce as red
from deeplocalize.probes.torch_check import NormPlan, add_norms
from deeplocalize.probes.torch_facts import accuracy_scalars
from deeplocalize.probes.torch_layers import LayerTable
from deeplocalize.probes.torch_record import Measured, measure


def _trained(dtype: torch.dtype = torch.float32) -> tuple[nn.Module, NormPlan]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)).to(dtype)
    table = LayerTable(model)
    for slot in table.slots.values():
        table.index(slot)
    loss = nn.functional.cross_entropy(model(torch.randn(8, 6, dtype=dtype)), torch.randint(0, 3, (8,)))
    loss.backward()
    return model, NormPlan.of(table)


def _measured(plan: NormPlan) -> Measured:
    buffer = red.StepBuffer()
    add_norms(buffer, plan)
    buffer.fetch_all()
    return measure([buffer])


def _rows(plan: NormPlan) -> dict:
    return _measured(plan).stats


def test_usual_step_takes_the_one_kernel_path_and_measures_the_same() -> None:
    model, plan = _trained()
    assert plan.uniform
    fast = _rows(plan)
    plan.uniform = False  # the grouped path, as for mixed devices or dtypes
    grouped = _rows(plan)
    assert fast.keys() == grouped.keys() and len(fast) == 4  # 2 layers x (weights, weight gradients)
    for key, row in fast.items():
        np.testing.assert_array_equal(row, grouped[key])
    first = model[0]
    weight = next(r for (i, ch), r in fast.items() if str(ch) == "weights" and i == min(k[0] for k in fast))
    expected = torch.sqrt(first.weight.detach().square().sum() + first.bias.detach().square().sum())
    assert weight[summary.NORM] == pytest.approx(expected.item(), rel=1e-6)  # kernel and bias, in quadrature


def test_a_missing_gradient_falls_back_to_the_grouped_path() -> None:
    model, plan = _trained()
    model[2].bias.grad = None
    rows = _rows(plan)
    layers = sorted({i for i, _ in rows})
    grads = {i: r for (i, ch), r in rows.items() if str(ch) == "weight_grad"}
    assert set(grads) == set(layers)  # the last layer's kernel gradient is still measured
    assert grads[layers[-1]][summary.NUMEL] == model[2].weight.numel()


def test_a_nan_gradient_is_counted_on_the_usual_path() -> None:
    model, plan = _trained()
    model[0].weight.grad[0, 0] = float("nan")
    measured = _measured(plan)
    rows = measured.stats
    assert not measured.finite()
    bad = [key for key, r in rows.items() if r[summary.NONFINITE] > 0]
    assert len(bad) == 1 and str(bad[0][1]) == "weight_grad"


def test_low_precision_parameters_are_grouped() -> None:
    _, plan = _trained(torch.bfloat16)
    assert not plan.uniform
    assert all(np.isfinite(r[summary.NORM]) for r in _rows(plan).values())


def test_a_model_cast_to_half_after_its_plan_was_made_is_grouped() -> None:
    """A norm taken in half precision overflows (float16 ends at 65504): a model cast since the plan was
    made takes the grouped path, which reduces it in float32."""
    model, plan = _trained()
    model.half()
    for p in model.parameters():
        p.grad = torch.full_like(p, 60000.0)  # finite, and a norm of 60000 * sqrt(numel) > 65504
    rows = _rows(plan)
    assert all(np.isfinite(r[summary.NORM]) and r[summary.NONFINITE] == 0 for r in rows.values())


def test_a_step_of_float32_numbers_is_one_dtype() -> None:
    """Accuracy counts in the dtype of the norms and the loss: the step's stack of scalars does not mix
    dtypes (a mixed stack costs several times more on a CPU)."""
    pred, target = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]]), torch.tensor([0, 1, 1])
    correct, counted = accuracy_scalars("cross_entropy", pred, target)
    assert (correct.item(), counted.item()) == (2.0, 3.0)
    assert correct.dtype == counted.dtype == torch.float32
    correct, counted = accuracy_scalars("bce", torch.tensor([0.9, 0.2]), torch.tensor([1.0, 1.0]))
    assert (correct.item(), counted.item()) == (1.0, 2.0) and counted.dtype == torch.float32
