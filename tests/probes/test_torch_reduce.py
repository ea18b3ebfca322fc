"""The torch probe's on-device reductions agree with the numpy reference ``summary.summarize``."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deeplocalize import summary  # noqa: E402
from deeplocalize.probes import torch_reduce as red  # noqa: E402


def _full(t: torch.Tensor, unit_axis: int | None = None,
          band: tuple[float, float] | None = None) -> np.ndarray:
    layout = red.Layout(zeros=True)
    scalars = red.stat_scalars(t, layout)
    if unit_axis is not None:
        scalars.append(red.dead_units(t, unit_axis))
    if band is not None:
        scalars.append(red.saturated_count(t, band))
    buf = red.StepBuffer()
    buf.add("k", "full", t.numel(), scalars)
    (_entry, vals), = buf.fetch()
    count = float(red.nonfinite_count(t)) if t.is_floating_point() else 0.0
    vec = red.summary_from_stats(t.numel(), count, vals, layout)
    pos = layout.width
    if unit_axis is not None:
        vec[summary.DEAD_FRAC] = vals[pos] / t.shape[unit_axis]
        pos += 1
    if band is not None:
        vec[summary.SAT_FRAC] = vals[pos] / t.numel()
    return vec


def test_full_reduction_matches_reference_on_known_tensor() -> None:
    g = torch.Generator().manual_seed(0)
    t = torch.randn(6, 5, 4, 3, generator=g, dtype=torch.float64)
    t[:, 2] = -1.0  # unit 2 dead on axis 1
    t[0, 0, 0, 0] = 0.0
    ours = _full(t, unit_axis=1)
    ref = summary.summarize(t.numpy(), unit_axis=1)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12, equal_nan=True)
    assert ours[summary.DEAD_FRAC] == pytest.approx(0.2)


def test_float32_statistics_close_to_reference() -> None:
    t = torch.randn(64, 10, generator=torch.Generator().manual_seed(1)).relu()
    ours = _full(t, unit_axis=-1)
    ref = summary.summarize(t.double().numpy(), unit_axis=-1)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_saturation_band_counts_edges_and_outside() -> None:
    band = summary.SATURATION_BANDS["sigmoid"]
    t = torch.tensor([0.0, 0.001, band[0], 0.5, 0.9, band[1], 1.0], dtype=torch.float64)
    ours = _full(t, band=band)
    ref = summary.summarize(t.numpy(), saturation=band)
    assert ours[summary.SAT_FRAC] == pytest.approx(ref[summary.SAT_FRAC]) == pytest.approx(5 / 7)


def test_layout_leaves_out_what_it_does_not_compute() -> None:
    t = torch.randn(100, generator=torch.Generator().manual_seed(2))
    layout = red.Layout(extremes=False)
    vals = torch.stack(red.stat_scalars(t, layout)).double().numpy()
    assert len(vals) == layout.width == 2
    vec = red.summary_from_stats(t.numel(), 0, vals, layout)
    ref = summary.summarize(t.double().numpy())
    assert np.isnan(vec[summary.MIN]) and np.isnan(vec[summary.MAX]) and np.isnan(vec[summary.ZERO_FRAC])
    for stat in (summary.MEAN, summary.STD, summary.NORM):
        assert vec[stat] == pytest.approx(ref[stat], rel=1e-5)


def test_softmax_single_unit_is_constant_and_saturated() -> None:
    t = torch.softmax(torch.randn(32, 1), dim=1)
    vec = _full(t, band=summary.SATURATION_BANDS["softmax"])
    assert vec[summary.MIN] == vec[summary.MAX] == 1.0
    assert vec[summary.STD] == 0.0 and vec[summary.SAT_FRAC] == 1.0


def test_nonfinite_tensor_counts_exactly_and_marks_other_stats_unmeasured() -> None:
    t = torch.ones(1000)
    t[3], t[10], t[999] = float("nan"), float("inf"), float("-inf")
    vec = _full(t)
    assert vec[summary.NUMEL] == 1000 and vec[summary.NONFINITE] == 3
    assert np.isnan(vec[summary.MEAN]) and np.isnan(vec[summary.MAX])
    assert float(red.nonfinite_count(t)) == 3.0


def test_half_precision_and_integer_tensors() -> None:
    h = torch.full((5000,), 2.0, dtype=torch.float16)
    h[0] = float("nan")
    assert float(red.nonfinite_count(h)) == 1.0  # counted in float32, no fp16 saturation
    ints = torch.arange(10)
    vec = _full(ints)
    assert vec[summary.NONFINITE] == 0 and vec[summary.MAX] == 9
    assert vec[summary.ZERO_FRAC] == pytest.approx(0.1)


def test_step_buffer_copies_once_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = torch.Tensor.cpu

    def counting_cpu(self: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        calls.append(args)
        return original(self, *args, **kwargs)

    buf = red.StepBuffer()
    for i in range(20):
        buf.add(i, "full", 10, red.stat_scalars(torch.randn(10)))
    monkeypatch.setattr(torch.Tensor, "cpu", counting_cpu)
    fetched = buf.fetch()
    assert len(fetched) == 20 and len(calls) == 1


def test_nonnegative_layout_counts_zeros_like_the_general_one() -> None:
    t = torch.randn(500, generator=torch.Generator().manual_seed(3)).relu()
    general = torch.stack(red.stat_scalars(t, red.Layout(zeros=True))).double().numpy()
    nonneg = torch.stack(red.stat_scalars(t, red.Layout(zeros=True, nonnegative=True))).double().numpy()
    np.testing.assert_array_equal(general, nonneg)
    assert general[-1] == int((t != 0).sum())


def test_step_buffer_reports_values_and_finiteness() -> None:
    buf = red.StepBuffer()
    buf.add("loss", "loss", 1, [torch.tensor(0.5)])
    buf.add("norms", "norms", 2, [torch.tensor(3.0), torch.tensor(float("inf"))])
    buf.add("empty", "obs", 0)
    (_, loss_vals), (_, norm_vals), (_, empty) = buf.fetch()
    assert not buf.finite and len(buf) == 3
    assert loss_vals.tolist() == [0.5] and norm_vals[0] == 3.0 and empty.size == 0


def test_step_buffer_fetches_numbers_added_after_a_fetch() -> None:
    """A step is read before the update (the check) and at its end: later numbers land after the first."""
    buf = red.StepBuffer()
    buf.add("a", "loss", 1, [torch.tensor(1.0)])
    buf.fetch_all()
    buf.add("b", "loss", 1, [torch.tensor(2.0)])
    buf.add("c", "norms", 2, [torch.tensor(3.0), torch.tensor(4.0)])
    buf.fetch_all()
    assert [buf.values(e).tolist() for e in buf.entries] == [[1.0], [2.0], [3.0, 4.0]] and buf.finite
    buf.fetch_all()  # nothing new: nothing copied, nothing lost
    assert [buf.values(e).tolist() for e in buf.entries] == [[1.0], [2.0], [3.0, 4.0]]


def test_step_buffer_groups_by_device_when_one_stack_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tensors on several devices cannot be stacked at once: each device's numbers are copied on their own
    and land at their places (simulated on the CPU by refusing the first, single-device stack)."""
    buf = red.StepBuffer()
    buf.add("s", "full", 3, [torch.tensor(1.0), torch.tensor(2.0)])
    buf.add("v", "norms", 3, [torch.tensor(5.0), torch.tensor(6.0), torch.tensor(7.0)])
    original, calls = torch.stack, []

    def refuse_once(tensors: list, *args: object, **kwargs: object) -> torch.Tensor:
        calls.append(len(tensors))
        if len(calls) == 1:
            raise RuntimeError("Expected all tensors to be on the same device")
        return original(tensors, *args, **kwargs)

    monkeypatch.setattr(torch, "stack", refuse_once)
    (_, s_vals), (_, v_vals) = buf.fetch()
    assert s_vals.tolist() == [1.0, 2.0] and v_vals.tolist() == [5.0, 6.0, 7.0] and buf.finite
