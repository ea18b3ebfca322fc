"""The PyTorch probe: what it records per step, and that it never alters or breaks training."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402, N812
from torch import nn  # noqa: E402

import deeplocalize as dl  # noqa: E402
from deeplocalize import summary  # noqa: E402
from deeplocalize.probes import torch_reduce  # noqa: E402
from deeplocalize.vocabulary import Channel, Phase, Symptom  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import _torch_models as tm  # noqa: E402


def _watch(model: nn.Module, opt: object = None, **kw: object) -> dl.probes.torch.Run:  # type: ignore[name-defined]
    kw.setdefault("on_fault", "continue")
    return dl.watch(model, opt, store=False, **kw)


def _final_params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _count_gradient_hooks(model: nn.Module, x: torch.Tensor,
                          y: torch.Tensor) -> tuple[list[tuple[int, ...]], Any]:
    """Shapes of the tensors given a gradient hook on one cheap step (after two steps)."""
    hooked: list[tuple[int, ...]] = []
    register = torch.Tensor.register_hook

    def counting(self: torch.Tensor, hook: object) -> object:
        hooked.append(tuple(self.shape))
        return register(self, hook)

    with _watch(model, config=dl.Config(stats_every=1000)) as run:
        tm.train(model, x, y, steps=2)
        torch.Tensor.register_hook = counting  # type: ignore[method-assign]
        try:
            tm.train(model, x, y, steps=1)
        finally:
            torch.Tensor.register_hook = register  # type: ignore[method-assign]
    return hooked, run


def _count_flag_passes(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[list[int], Any]:
    """Element counts of the finiteness passes of one cheap step (after two steps to learn the layout)."""
    calls: list[int] = []
    original = torch_reduce.finite_flag

    def counting(t: torch.Tensor) -> torch.Tensor | None:
        calls.append(t.numel())
        return original(t)

    with _watch(model, config=dl.Config(stats_every=1000)) as run:
        tm.train(model, x, y, steps=3)
        torch_reduce.finite_flag, saved = counting, torch_reduce.finite_flag
        try:
            tm.train(model, x, y, steps=1)
        finally:
            torch_reduce.finite_flag = saved
    return calls, run


# ---------------------------------------------------------------------------------------- non-interference
@pytest.mark.parametrize("make,data", [(tm.mlp, tm.blobs), (tm.cnn, tm.images)])
def test_same_seed_gives_bit_identical_weights_with_and_without_watch(make, data) -> None:
    x, y = data()
    plain = make()
    torch.manual_seed(7)
    tm.train(plain, x, y, steps=6)
    watched = make()
    torch.manual_seed(7)
    with _watch(watched) as run:
        tm.train(watched, x, y, steps=6)
    assert run.monitor.trace.steps_observed == 6
    for a, b in zip(_final_params(plain), _final_params(watched), strict=True):
        assert torch.equal(a, b)
    assert run.diagnosis is not None and run.diagnosis.tool_errors == []


def test_hooks_are_removed_after_the_block() -> None:
    x, y = tm.blobs()
    model = tm.mlp()
    with _watch(model) as run:
        tm.train(model, x, y, steps=2)
    assert F.cross_entropy.__module__ == "torch.nn.functional"
    assert torch.autograd.backward.__module__ == "torch.autograd"
    tm.train(model, x, y, steps=2)
    assert run.monitor.trace.steps_observed == 2


# ---------------------------------------------------------------------------------------- what is recorded
def test_records_every_channel_with_forward_order_and_facts() -> None:
    x, y = tm.images()
    model = tm.cnn()
    with _watch(model, config=dl.Config(stats_every=1)) as run:  # full statistics on step 3
        tm.train(model, x, y, steps=3)
    info = run.monitor.model
    assert [(lay.index, lay.name, lay.type, lay.activation) for lay in info.layers] == [
        (0, "0", "Conv2d", "linear"), (1, "1", "ReLU", "relu"), (2, "2", "MaxPool2d", None),
        (3, "3", "Flatten", None), (4, "4", "Linear", "linear"), (5, "5", "ReLU", "relu"),
        (6, "6", "Linear", "linear")]
    assert info.layers[0].units == 4 and info.layers[0].unit_axis == 1 and info.layers[0].params == 40
    assert info.layers[1].unit_axis == 1 and info.layers[5].unit_axis == -1
    assert (info.loss.name, info.loss.expects) == ("cross_entropy", "logits")
    assert (info.optimizer.name, info.optimizer.lr, info.optimizer.momentum) == ("sgd", 0.1, 0.9)
    assert info.task == "multiclass" and info.data.n_classes == 3 and info.data.y_is_integer
    assert info.data.x_shape == (16, 1, 8, 8) and info.batch_size == 16
    rec = run.monitor.trace.last_record
    assert rec.step == 3 and rec.lr == 0.1 and 0.0 <= rec.metrics["accuracy"] <= 1.0
    assert rec.loss is not None and np.isfinite(rec.loss)
    assert set(rec.stats) >= {(0, c) for c in Channel}
    assert (1, Channel.WEIGHTS) not in rec.stats  # ReLU has no parameters
    assert rec.stats[(0, Channel.OUTPUT)][summary.MIN] < 0  # conv output measured before the in-place ReLU
    assert rec.stats[(1, Channel.OUTPUT)][summary.MIN] == 0.0
    assert 0.0 <= rec.stats[(1, Channel.OUTPUT)][summary.DEAD_FRAC] <= 1.0
    assert rec.data[summary.NUMEL] == 16 * 64 and rec.target[summary.NUMEL] == 16
    upd = rec.stats[(6, Channel.UPDATE)]
    assert upd[summary.NUMEL] == 16 * 3 + 3 and upd[summary.NORM] > 0


def test_loss_and_accuracy_match_the_training_loop() -> None:
    x, y = tm.blobs()
    model = tm.mlp(dropout=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []
    with _watch(model, opt) as run:
        for _ in range(3):
            opt.zero_grad()
            out = model(x)
            loss = F.cross_entropy(out, y)
            seen.append((float(loss.detach()), float((out.argmax(1) == y).float().mean())))
            loss.backward()
            opt.step()
    trace = run.monitor.trace
    np.testing.assert_allclose(trace.loss(), [s[0] for s in seen], rtol=1e-6)
    np.testing.assert_allclose(trace.metric("accuracy"), [s[1] for s in seen])


def test_dead_relu_and_sigmoid_saturation_measured() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 1), nn.Sigmoid())
    with torch.no_grad():
        model[0].bias[:3] = -100.0  # 3 of 6 units never fire
        model[2].weight.mul_(100.0)
    x = torch.randn(32, 8)
    yb = (x[:, 0] > 0).float().unsqueeze(1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with _watch(model, opt) as run:
        opt.zero_grad()
        F.binary_cross_entropy(model(x), yb).backward()
        opt.step()
    rec = run.monitor.trace.last_record
    assert rec.stats[(1, Channel.OUTPUT)][summary.DEAD_FRAC] == pytest.approx(0.5)
    assert rec.stats[(3, Channel.OUTPUT)][summary.SAT_FRAC] > 0.5
    assert run.monitor.model.loss.name == "bce" and run.monitor.model.task == "binary"


def test_stats_every_k_keeps_nonfinite_counts_every_step() -> None:
    x, y = tm.blobs()
    model = tm.mlp()
    with _watch(model, config=dl.Config(stats_every=3)) as run:
        tm.train(model, x, y, steps=4)
    trace = run.monitor.trace
    means = trace.series(0, Channel.OUTPUT, "mean")
    counts = trace.series(0, Channel.OUTPUT, "nonfinite")
    assert np.isfinite(means[[0, 3]]).all() and np.isnan(means[[1, 2]]).all()
    assert (counts == 0).all()
    assert np.isfinite(trace.series(0, Channel.UPDATE, "norm")[0])
    assert trace.records().__next__().stats.get((0, Channel.UPDATE)) is not None
    assert all((0, Channel.UPDATE) not in r.stats for r in list(trace.records())[1:3])


def test_single_host_transfer_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = tm.images()
    model = tm.cnn()
    counts = {"to_cpu": 0, "sync": 0}
    to, cpu = torch.Tensor.to, torch.Tensor.cpu

    def counting_to(self: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        if args and str(args[0]) == "cpu":
            counts["to_cpu"] += 1
        return to(self, *args, **kwargs)

    def counting_cpu(self: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        counts["to_cpu"] += 1
        return cpu(self, *args, **kwargs)

    def make_sync(name: str):
        original = getattr(torch.Tensor, name)

        def sync(self: torch.Tensor, *args: object, **kwargs: object) -> object:
            counts["sync"] += 1
            return original(self, *args, **kwargs)
        return sync

    with _watch(model) as run:
        tm.train(model, x, y, steps=1)  # step 1 also reads the first batch's facts once
        monkeypatch.setattr(torch.Tensor, "to", counting_to)
        monkeypatch.setattr(torch.Tensor, "cpu", counting_cpu)
        for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
            monkeypatch.setattr(torch.Tensor, name, make_sync(name))
        tm.train(model, x, y, steps=4, opt=torch.optim.SGD(model.parameters(), lr=0.1))
        monkeypatch.undo()
    assert run.monitor.trace.steps_observed == 5
    assert counts == {"to_cpu": 4, "sync": 0}


# ---------------------------------------------------------------------------------------- step semantics
def test_eval_and_no_grad_passes_are_not_steps() -> None:
    x, y = tm.blobs()
    model = tm.mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with _watch(model, opt) as run:
        for _ in range(3):
            model.train()
            opt.zero_grad()
            F.cross_entropy(model(x[:16]), y[:16]).backward()
            opt.step()
            model.eval()
            with torch.no_grad():
                F.cross_entropy(model(x), y)  # 64 samples: must not reach the stats
            model(x[:5])  # eval mode with grad on: not a step either
    trace = run.monitor.trace
    assert trace.steps_observed == 3
    assert (trace.series(0, Channel.OUTPUT, "numel") == 16 * 16).all()
    assert (trace.target()[:, summary.NUMEL] == 16).all()


def test_gradient_accumulation_is_one_step_per_optimizer_step() -> None:
    x, y = tm.blobs()
    model = tm.mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with _watch(model, opt) as run:
        for _ in range(2):
            opt.zero_grad()
            for k in range(4):
                (F.cross_entropy(model(x[k * 8:(k + 1) * 8]), y[k * 8:(k + 1) * 8]) / 4).backward()
            opt.step()
    trace = run.monitor.trace
    assert trace.steps_observed == 2
    assert (trace.series(0, Channel.OUTPUT, "numel") == 4 * 8 * 16).all()
    assert (trace.series(0, Channel.OUTPUT_GRAD, "numel") == 4 * 8 * 16).all()


def test_two_optimizers_after_one_backward_are_one_step() -> None:
    x, y = tm.blobs()
    model = tm.mlp(dropout=False)
    opt_a = torch.optim.SGD(model[0].parameters(), lr=0.1)
    opt_b = torch.optim.Adam(model[2].parameters(), lr=0.01)
    with _watch(model, [opt_a, opt_b], config=dl.Config(stats_every=1)) as run:
        for _ in range(3):
            opt_a.zero_grad()
            opt_b.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt_a.step()
            opt_b.step()
    trace = run.monitor.trace
    assert trace.steps_observed == 3
    rec = trace.last_record
    assert rec.stats[(0, Channel.UPDATE)][summary.NORM] > 0
    assert rec.stats[(2, Channel.UPDATE)][summary.NORM] > 0
    assert run.monitor.model.extra["optimizers"] == ["sgd", "adam"]


def test_without_optimizer_each_backward_is_a_step() -> None:
    x, y = tm.blobs()
    model = tm.mlp(dropout=False)
    with _watch(model, config=dl.Config(stats_every=1)) as run:
        for _ in range(3):
            model.zero_grad()
            F.cross_entropy(model(x), y).backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
    trace = run.monitor.trace
    assert trace.steps_observed == 3
    assert np.isfinite(trace.series(0, Channel.WEIGHT_GRAD, "norm")).all()
    assert (trace.series(0, Channel.WEIGHT_GRAD, "norm") > 0).all()


def test_crash_between_forward_and_step_still_records_the_partial_step() -> None:
    x, y = tm.blobs()
    model = tm.mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(AssertionError), _watch(model, opt) as run:
        tm.train(model, x, y, steps=2, opt=opt)
        loss = F.cross_entropy(model(x), y)
        raise AssertionError(f"stop here, loss {float(loss.detach()):.2f}")
    assert run.monitor.trace.steps_observed == 3
    assert run.monitor.trace.last_record.loss is None  # no backward: no loss captured
    assert run.diagnosis is not None


# ---------------------------------------------------------------------------------------- module shapes
@dataclass
class _Pair:
    a: torch.Tensor
    b: torch.Tensor
    note: str = "ignored"


class _Multi(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.w = nn.Parameter(torch.ones(8))

    def forward(self, x: torch.Tensor) -> object:
        a, b = x * self.w, x - self.w
        if self.kind == "tuple":
            return a, (b, "text", None)
        if self.kind == "dict":
            return {"a": a, "b": b, "n": 3}
        return _Pair(a, b)


@pytest.mark.parametrize("kind", ["tuple", "dict", "dataclass"])
def test_structured_outputs_are_summarized(kind: str) -> None:
    layer = _Multi(kind)
    head = nn.Linear(8, 2)
    model = nn.ModuleDict({"multi": layer, "head": head})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(4, 8)
    with _watch(model, opt) as run:
        for _ in range(2):
            opt.zero_grad()
            out = layer(x)
            a = out[0] if kind == "tuple" else (out["a"] if kind == "dict" else out.a)
            head(a).pow(2).mean().backward()
            opt.step()
    rec = run.monitor.trace.last_record
    index = {lay.name: lay.index for lay in run.monitor.model.layers}
    assert rec.stats[(index["multi"], Channel.OUTPUT)][summary.NUMEL] == 64
    assert rec.stats[(index["multi"], Channel.OUTPUT_GRAD)][summary.NUMEL] == 32  # only `a` got a gradient
    assert rec.loss is not None and run.diagnosis.tool_errors == []


def test_module_called_twice_per_step_is_merged() -> None:
    shared = nn.Linear(4, 4)
    model = nn.ModuleDict({"shared": shared, "out": nn.Linear(4, 1)})
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(8, 4)
    with _watch(model, opt) as run:
        for _ in range(2):
            opt.zero_grad()
            model["out"](shared(shared(x))).mean().backward()
            opt.step()
    layers = run.monitor.model.layers
    assert [lay.name for lay in layers] == ["shared", "out"]
    rec = run.monitor.trace.last_record
    assert rec.stats[(0, Channel.OUTPUT)][summary.NUMEL] == 64
    assert rec.stats[(0, Channel.OUTPUT_GRAD)][summary.NUMEL] == 64
    assert rec.stats[(0, Channel.WEIGHTS)][summary.NUMEL] == 20


def test_frozen_parameters_and_dtype_move() -> None:
    x, y = tm.blobs()
    model = tm.mlp(dropout=False)
    for p in model[0].parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    with _watch(model, opt, config=dl.Config(stats_every=1)) as run:
        tm.train(model, x, y, steps=2, opt=opt)
        model.double()
        tm.train(model, x.double(), y, steps=2, opt=opt)
    rec = run.monitor.trace.last_record
    assert (0, Channel.WEIGHTS) in rec.stats
    assert (0, Channel.WEIGHT_GRAD) not in rec.stats and (0, Channel.UPDATE) not in rec.stats
    assert rec.stats[(2, Channel.UPDATE)][summary.NORM] > 0
    assert run.monitor.model.layers[0].trainable_params == 0
    assert run.monitor.trace.steps_observed == 4 and run.diagnosis.tool_errors == []


# ---------------------------------------------------------------------------------------- containment, policy
def test_exception_inside_the_probe_is_contained(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> list[torch.Tensor]:
        raise RuntimeError("probe exploded")

    monkeypatch.setattr(torch_reduce, "stat_scalars", broken)
    x, y = tm.blobs()
    model = tm.mlp()
    plain = tm.mlp()
    torch.manual_seed(3)
    tm.train(plain, x, y, steps=3)
    torch.manual_seed(3)
    with _watch(model) as run:
        tm.train(model, x, y, steps=3)
    assert any("probe exploded" in e for e in run.diagnosis.tool_errors)
    for a, b in zip(_final_params(plain), _final_params(model), strict=True):
        assert torch.equal(a, b)


class _NanAfter(nn.Module):
    """Divides by zero from step ``k`` on (counted in training forward calls)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k, self.calls = k, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
        return x / 0.0 if self.calls >= self.k else x


def _nan_model(k: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), _NanAfter(k), nn.Linear(16, 3))


def test_nan_is_counted_at_the_producing_layer_in_the_same_step() -> None:
    x, y = tm.blobs()
    model = _nan_model(3)
    with _watch(model) as run:
        tm.train(model, x, y, steps=4)
    trace = run.monitor.trace
    assert (trace.series(1, Channel.OUTPUT, "nonfinite")[:3] == 0).all()  # step 4: weights already NaN
    assert list(trace.series(2, Channel.INPUT, "nonfinite")[:3]) == [0, 0, 0]
    assert list(trace.series(2, Channel.OUTPUT, "nonfinite") > 0) == [False, False, True, True]
    assert np.isnan(trace.loss()[2])


def test_stop_policy_ends_the_loop_and_code_after_runs() -> None:
    x, y = tm.blobs()
    model = _nan_model(2)
    steps_run = 0
    with dl.watch(model, on_fault="stop", store=False) as run:
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(10):
            tm.train(model, x, y, steps=1, opt=opt)
            steps_run += 1
    assert run.stopped_early and run.diagnosis.stopped_early
    assert steps_run < 10 and run.diagnosis.findings


def test_raise_policy_raises_fault_detected() -> None:
    x, y = tm.blobs()
    model = _nan_model(2)
    with pytest.raises(dl.FaultDetected), dl.watch(model, on_fault="raise", store=False):
        tm.train(model, x, y, steps=10)


# ------------------------------------------------------------------------------ cheap steps (issue 6)
class _NanGradFrom(nn.Module):
    """Identity forward; from training call ``k`` on, its backward turns the gradient into NaN."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k, self.calls = k, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x if self.calls < self.k else _NanGrad.apply(x)


class _NanGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        return grad * float("nan")


def test_nan_on_a_cheap_step_is_localized_at_zero_latency() -> None:
    x, y = tm.blobs()
    model = _nan_model(3)
    with _watch(model, config=dl.Config(stats_every=10)) as run:  # step 3 is not a full-statistics step
        tm.train(model, x, y, steps=3)
    trace = run.monitor.trace
    assert np.isnan(trace.series(0, Channel.OUTPUT, "mean")[2])  # a cheap step indeed
    assert list(trace.series(1, Channel.OUTPUT, "nonfinite")) == [0, 0, 0]
    assert list(trace.series(2, Channel.INPUT, "nonfinite")) == [0, 0, 0]
    assert list(trace.series(2, Channel.OUTPUT, "nonfinite") > 0) == [False, False, True]
    first = run.diagnosis.findings[0]
    assert (first.symptom, first.phase, first.layer.index, first.step) == (
        Symptom.NUMERICAL_ERROR, Phase.FORWARD, 2, 3)


def test_nan_gradient_on_a_cheap_step_counts_parameter_grads_exactly() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), _NanGradFrom(2), nn.Linear(16, 3))
    x, y = tm.blobs()
    with _watch(model, config=dl.Config(stats_every=10)) as run:
        tm.train(model, x, y, steps=2)
    rec = run.monitor.trace.last_record
    assert np.isnan(rec.stats[(0, Channel.OUTPUT)][summary.MEAN])  # cheap step
    assert np.isfinite(rec.loss)
    assert rec.stats[(2, Channel.OUTPUT_GRAD)][summary.NONFINITE] == 0
    assert rec.stats[(1, Channel.OUTPUT_GRAD)][summary.NONFINITE] == 0
    assert rec.stats[(0, Channel.OUTPUT_GRAD)][summary.NONFINITE] >= 1  # made by layer 1's backward
    assert rec.stats[(0, Channel.WEIGHT_GRAD)][summary.NONFINITE] == 16 * 8 + 16  # exact: kept tensor
    assert rec.stats[(2, Channel.WEIGHT_GRAD)][summary.NONFINITE] == 0


@pytest.mark.parametrize("every", [1, 10])
def test_one_host_transfer_per_clean_step_at_any_cadence(monkeypatch: pytest.MonkeyPatch, every: int) -> None:
    x, y = tm.blobs()
    model = tm.mlp()
    copies = []
    cpu = torch.Tensor.cpu

    def counting_cpu(self: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        copies.append(self.numel())
        return cpu(self, *args, **kwargs)

    with _watch(model, config=dl.Config(stats_every=every)) as run:
        tm.train(model, x, y, steps=1)
        monkeypatch.setattr(torch.Tensor, "cpu", counting_cpu)
        tm.train(model, x, y, steps=6, opt=torch.optim.SGD(model.parameters(), lr=0.1))
        monkeypatch.undo()
    assert run.monitor.trace.steps_observed == 7 and len(copies) == 6


# ------------------------------------------------------------------------------------ cheap-step economies
def test_pass_through_layers_reuse_their_input_flag_and_get_no_gradient_hook() -> None:
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))
    x, y = tm.blobs()
    calls, run = _count_flag_passes(model, x, y)
    rec = run.monitor.trace.last_record
    assert rec.stats[(1, Channel.OUTPUT)][summary.NONFINITE] == 0  # ReLU: its input's flag
    assert (1, Channel.OUTPUT_GRAD) not in rec.stats and (2, Channel.OUTPUT_GRAD) not in rec.stats
    assert (0, Channel.OUTPUT_GRAD) in rec.stats and (3, Channel.OUTPUT_GRAD) in rec.stats
    # data, labels (integer: no pass), two Linear outputs: none over the ReLU/Dropout outputs (16 x 16
    # elements) or their gradients; the Linear output gradients are read from their bias gradients
    assert sorted(calls) == sorted([16 * 8, 16, 16 * 16, 16 * 3])


def test_output_gradients_of_biased_layers_are_read_from_their_parameter_gradients() -> None:
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16, bias=False), nn.Linear(16, 3))
    x, y = tm.blobs()
    hooked, run = _count_gradient_hooks(model, x, y)
    assert hooked == [(16, 16)]  # the bias-free Linear keeps its gradient hook
    rec = run.monitor.trace.last_record
    for i in (0, 2, 3):  # every output gradient still has its row: size and (zero) non-finite count
        row = rec.stats[(i, Channel.OUTPUT_GRAD)]
        assert row[summary.NUMEL] == rec.stats[(i, Channel.OUTPUT)][summary.NUMEL] > 0
        assert row[summary.NONFINITE] == 0


def test_nan_made_between_pass_through_layers_is_still_localized() -> None:
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), _NanAfter(3), nn.ReLU(), nn.Linear(16, 3))
    x, y = tm.blobs()
    with _watch(model, config=dl.Config(stats_every=10)) as run:
        tm.train(model, x, y, steps=3)
    first = run.diagnosis.findings[0]
    assert (first.symptom, first.phase, first.layer.index, first.step) == (
        Symptom.NUMERICAL_ERROR, Phase.FORWARD, 2, 3)
    assert list(run.monitor.trace.series(3, Channel.OUTPUT, "nonfinite") > 0) == [False, False, True]


def test_a_layer_output_is_flagged_where_its_chain_of_pass_through_layers_ends() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 3))
    x, y = tm.images()
    calls, run = _count_flag_passes(model, x, y)
    # the batch, labels (integer: no pass), the pooled conv output (4 x 3 x 3, not 4 x 6 x 6) and the logits
    assert sorted(calls) == sorted([16 * 64, 16, 16 * 36, 16 * 3])
    rec = run.monitor.trace.last_record
    assert all(rec.stats[(i, Channel.OUTPUT)][summary.NONFINITE] == 0 for i in range(5))


class _InPlaceAfter(nn.Module):
    """fc1, then an in-place change of its output by a non-layer op (NaN from training call ``nan_from``
    on), then ReLU and fc2."""

    def __init__(self, nan_from: int = 0) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.relu, self.fc2 = nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)
        self.nan_from, self.calls = nan_from, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += self.training
        h = self.fc1(x)
        h += float("nan") if self.nan_from and self.calls >= self.nan_from else 1.0  # in place, every step
        return self.fc2(self.relu(h))


def test_an_output_changed_in_place_before_the_next_layer_is_flagged_where_it_is_made() -> None:
    x, y = tm.blobs()
    calls, _ = _count_flag_passes(_InPlaceAfter(), x, y)
    # fc1's own output and ReLU's input (changed since) each get a pass: no chain through the change
    assert sorted(calls) == sorted([16 * 8, 16, 16 * 16, 16 * 16, 16 * 3])
    model = _InPlaceAfter(nan_from=5)
    with _watch(model, config=dl.Config(stats_every=1000)) as run:
        tm.train(model, x, y, steps=5)
    first = run.diagnosis.findings[0]
    assert (first.phase, first.step, first.layer.name) == (Phase.FORWARD, 5, "relu")  # between fc1 and relu
    assert list(run.monitor.trace.series(0, Channel.OUTPUT, "nonfinite")) == [0, 0, 0, 0, 0]


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.attn, self.head = nn.MultiheadAttention(8, 2, batch_first=True), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.reshape(len(x), 2, 4).repeat(1, 1, 2)
        return self.head(self.attn(seq, seq, seq, need_weights=False)[0].mean(dim=1))


def test_attention_owns_its_out_proj_and_its_output_gradient_is_read_from_it() -> None:
    model = _Attention()
    x, y = tm.blobs()
    hooked, run = _count_gradient_hooks(model, x, y)
    attn = run.monitor.model.layers[0]
    assert (attn.name, attn.params) == ("attn", sum(p.numel() for p in model.attn.parameters()))
    assert hooked == []  # no output-gradient hook on a cheap step
    rec = run.monitor.trace.last_record
    assert rec.stats[(0, Channel.OUTPUT_GRAD)][summary.NONFINITE] == 0
    assert rec.stats[(0, Channel.WEIGHT_GRAD)][summary.NUMEL] == attn.params


class _Residual(nn.Module):
    """fc1 -> h + mid(fc2(relu(h))) -> norm -> head; from training call ``nan_from`` on, a NaN starts
    either in ``mid`` (a layer: ``how="layer"``) or in a non-layer op after it (``how="sqrt"``)."""

    def __init__(self, nan_from: int = 0, how: str = "") -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2, self.norm, self.head = nn.Linear(8, 16), nn.Linear(16, 16), nn.LayerNorm(16), \
            nn.Linear(16, 3)
        self.mid = _NanAfter(nan_from) if how == "layer" else nn.Identity()
        self.nan_from, self.how, self.calls = nan_from, how, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += self.training
        h = self.fc1(x)
        r = self.mid(self.fc2(F.relu(h)))
        if self.how == "sqrt" and self.calls >= self.nan_from:  # makes NaN from finite values
            r = torch.sqrt(r - 100.0)
        return self.head(self.norm(h + r) * 1.0)


def test_inputs_made_by_finite_preserving_ops_take_their_operands_flags() -> None:
    x, y = tm.blobs()
    calls, run = _count_flag_passes(_Residual(), x, y)
    rec = run.monitor.trace.last_record
    assert [layer.name for layer in run.monitor.model.layers] == ["fc1", "fc2", "mid", "norm", "head"]
    assert rec.stats[(3, Channel.INPUT)][summary.NONFINITE] == 0  # norm's input h + r: fc1's and mid's flags
    # data, labels (integer: no pass), fc1, fc2, norm, head outputs (mid, an Identity, passes its input's
    # on); fc2's input relu(h) and norm's input h + r take the flags of h and r; head's input (a product,
    # not finite-preserving) gets a pass of its own
    assert sorted(calls) == sorted([16 * 8, 16, 16 * 16, 16 * 16, 16 * 16, 16 * 16, 16 * 3])


@pytest.mark.parametrize("how", ["layer", "sqrt"])
def test_a_nan_reaching_a_derived_flag_is_found_where_it_starts(how: str) -> None:
    model = _Residual(nan_from=3, how=how)
    x, y = tm.blobs()
    with _watch(model, config=dl.Config(stats_every=10)) as run:
        tm.train(model, x, y, steps=3)
    trace = run.monitor.trace
    assert list(trace.series(3, Channel.INPUT, "nonfinite") > 0) == [False, False, True]  # norm's input
    assert list(trace.series(2, Channel.OUTPUT, "nonfinite") > 0) == [False, False, how == "layer"]
    first = run.diagnosis.findings[0]
    assert (first.symptom, first.phase, first.step) == (Symptom.NUMERICAL_ERROR, Phase.FORWARD, 3)
    assert first.layer.name == ("mid" if how == "layer" else "norm")  # made by mid / reached norm's input


def test_routine_steps_reach_the_monitor_in_order_and_by_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tm.mlp()
    x, y = tm.blobs()
    seen: list[int] = []
    with _watch(model, config=dl.Config(check_every=5)) as run:
        original = run.monitor.record
        monkeypatch.setattr(run.monitor, "record", lambda r: (seen.append(r.step), original(r)))
        tm.train(model, x, y, steps=12)
        held = 12 - len(seen)
    assert 0 < held < 5  # steps 11 and 12 wait for the next check step (15) or the exit
    assert seen == list(range(1, 13)) and run.monitor.trace.steps_observed == 12


def test_a_gradient_hook_given_none_is_ignored() -> None:
    model = tm.mlp()
    with _watch(model) as run:
        out = model(torch.randn(4, 8))
        hook = run._session.collector.slots[model[0]].grad_hook
        hook(None)
        out.sum().backward()
    assert run.diagnosis.tool_errors == []


def test_run_log_attaches_to_the_step_just_trained_while_records_are_held_back() -> None:
    model = tm.mlp()
    x, y = tm.blobs()
    with _watch(model, config=dl.Config(check_every=50)) as run:
        tm.train(model, x, y, steps=7)
        run.log(val_accuracy=0.5)
        assert run.monitor.trace.last_step == 7
    assert list(run.monitor.trace.metric("val_accuracy") == 0.5).index(True) == 6


# ------------------------------------------------------------------------------- copies in flight (GPU path)
def _in_flight(run: object) -> None:
    """Make every step's host copy count as in flight, as a CUDA copy does (the CPU copy is done at once)."""
    run._session.collector.async_copy = True  # type: ignore[attr-defined]


def test_a_step_in_flight_is_recorded_when_the_next_one_ends_and_all_by_exit() -> None:
    model = tm.mlp()
    x, y = tm.blobs()
    with _watch(model) as run:
        _in_flight(run)
        tm.train(model, x, y, steps=9)
    trace = run.monitor.trace
    assert trace.steps_observed == 9 and list(trace.steps()) == list(range(1, 10))
    assert run.diagnosis.tool_errors == []


def test_nan_in_flight_stops_before_the_next_update_and_keeps_its_step_and_layer() -> None:
    model = _nan_model(3)
    x, y = tm.blobs()
    updates = 0
    with dl.watch(model, on_fault="stop", store=False) as run:
        _in_flight(run)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for step in range(10):
            opt.zero_grad()
            F.cross_entropy(model(x[:16]), y[:16]).backward()
            opt.step()
            updates = step + 1
    first = run.diagnosis.findings[0]
    assert (first.symptom, first.layer.index, first.step) == (Symptom.NUMERICAL_ERROR, 2, 3)
    assert run.stopped_early and updates == 3  # step 4's optimizer.step() raised before updating


def test_in_flight_copies_never_alter_training() -> None:
    x, y = tm.blobs()
    plain, watched = tm.mlp(), tm.mlp()
    torch.manual_seed(5)
    tm.train(plain, x, y, steps=6)
    torch.manual_seed(5)
    with _watch(watched) as run:
        _in_flight(run)
        tm.train(watched, x, y, steps=6)
    for a, b in zip(_final_params(plain), _final_params(watched), strict=True):
        assert torch.equal(a, b)


def test_held_back_records_reach_the_monitor_within_the_hold_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from deeplocalize.probes import torch_collector

    monkeypatch.setattr(torch_collector, "_MAX_HOLD_S", 0.0)  # slow steps: every step is shown at once
    model = tm.mlp()
    x, y = tm.blobs()
    with _watch(model, config=dl.Config(check_every=50)) as run:
        tm.train(model, x, y, steps=6)
        assert run.monitor.trace.last_step == 6
