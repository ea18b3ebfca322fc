"""The PyTorch probe: what it records per step, and that it never alters or breaks training."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402, N812
from torch import nn  # noqa: E402

import deeplocalize as dl  # noqa: E402
from deeplocalize import summary  # noqa: E402
from deeplocalize.probes import torch_handoff, torch_reduce  # noqa: E402
from deeplocalize.vocabulary import Channel, Phase, Symptom  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import _torch_models as tm  # noqa: E402


def _watch(model: nn.Module, opt: object = None, **kw: object) -> dl.probes.torch.Run:  # type: ignore[name-defined]
    kw.setdefault("on_fault", "continue")
    return dl.watch(model, opt, store=False, **kw)


def _final_state(model: nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in (*model.parameters(), *model.buffers())]


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-identical, NaN where the other is NaN."""
    return bool(torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num()))


def _bn_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def _parametrized_model(seed: int = 0) -> nn.Module:
    """Spectral and weight normalization: a spectral norm's power iteration advances its buffers at every
    read of the weight in training mode (once, the tool's reads of a layer's width changed the training)."""
    from torch.nn.utils.parametrizations import spectral_norm, weight_norm

    torch.manual_seed(seed)
    return nn.Sequential(weight_norm(nn.Linear(8, 16)), nn.ReLU(), spectral_norm(nn.Linear(16, 16)),
                         nn.ReLU(), nn.Linear(16, 3))


def _layer_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules() if m is not model)


# ---------------------------------------------------------------------------------------- non-interference
@pytest.mark.parametrize("make,data", [(tm.mlp, tm.blobs), (tm.cnn, tm.images), (_bn_model, tm.blobs),
                                       (_parametrized_model, tm.blobs)])
def test_same_seed_gives_bit_identical_weights_with_and_without_watch(make, data) -> None:
    x, y = data()
    plain = make()
    torch.manual_seed(7)
    tm.train(plain, x, y, steps=25)  # statistics steps 1 and 21, ordinary steps between
    watched = make()
    torch.manual_seed(7)
    with _watch(watched) as run:
        tm.train(watched, x, y, steps=25)
    assert run.monitor.trace.steps_observed == 25
    assert all(torch.equal(a, b) for a, b in zip(_final_state(plain), _final_state(watched), strict=True))
    assert run.diagnosis is not None and run.diagnosis.tool_errors == []


def test_ordinary_steps_run_without_layer_hooks() -> None:
    x, y = tm.blobs()
    model = tm.mlp()
    seen: list[int] = []

    class Spy(nn.Module):
        def forward(self, t: torch.Tensor) -> torch.Tensor:
            seen.append(_layer_hooks(model))
            return t

    model.insert(0, Spy())
    with _watch(model, config=dl.Config(stats_every=4)) as run:
        tm.train(model, x, y, steps=6)
    assert [n > 0 for n in seen] == [True, False, False, False, True, False]  # statistics steps 1 and 5
    assert _layer_hooks(model) == 0 and run.monitor.trace.steps_observed == 6
    assert not nn.modules.module._global_forward_pre_hooks and not nn.modules.module._global_forward_hooks


def test_hooks_are_removed_after_the_block() -> None:
    x, y = tm.blobs()
    model = tm.mlp()
    with _watch(model) as run:
        tm.train(model, x, y, steps=2)
    assert F.cross_entropy.__module__ == "torch.nn.functional"
    assert torch.autograd.backward.__module__ == "torch.autograd"
    assert not model._forward_pre_hooks and not model._forward_hooks and _layer_hooks(model) == 0
    tm.train(model, x, y, steps=2)
    assert run.monitor.trace.steps_observed == 2


# ---------------------------------------------------------------------------------------- what is recorded
def test_records_every_channel_with_forward_order_and_facts() -> None:
    x, y = tm.images()
    model = tm.cnn()
    with _watch(model, config=dl.Config(stats_every=1)) as run:  # full statistics on every step
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
    assert set(rec.stats) >= {(0, c) for c in Channel if c != Channel.ATTENTION}  # a conv runs no attention
    assert (1, Channel.WEIGHTS) not in rec.stats  # ReLU has no parameters
    assert rec.stats[(0, Channel.OUTPUT)][summary.MIN] < 0  # conv output measured before the in-place ReLU
    assert rec.stats[(1, Channel.OUTPUT)][summary.MIN] == 0.0
    assert 0.0 <= rec.stats[(1, Channel.OUTPUT)][summary.DEAD_FRAC] <= 1.0
    assert rec.data[summary.NUMEL] == 16 * 64 and rec.target[summary.NUMEL] == 16
    upd = rec.stats[(6, Channel.UPDATE)]
    assert upd[summary.NUMEL] == 16 * 3 + 3 and upd[summary.NORM] > 0


def test_ordinary_steps_record_loss_and_every_layers_gradient_and_weight_norms() -> None:
    x, y = tm.blobs()
    model = tm.mlp(dropout=False)
    with _watch(model, config=dl.Config(stats_every=3)) as run:
        tm.train(model, x, y, steps=5)
    trace = run.monitor.trace
    assert list(np.isfinite(trace.series(0, Channel.OUTPUT, "mean"))) == [True, False, False, True, False]
    assert np.isfinite(trace.series(0, Channel.WEIGHT_GRAD, "norm")).all()
    assert np.isfinite(trace.series(2, Channel.WEIGHTS, "norm")).all()
    assert (trace.series(0, Channel.WEIGHT_GRAD, "nonfinite") == 0).all()
    grad = model[0].weight.grad.norm() ** 2 + model[0].bias.grad.norm() ** 2
    assert trace.series(0, Channel.WEIGHT_GRAD, "norm")[-1] == pytest.approx(float(grad.sqrt()), rel=1e-5)
    assert np.isfinite(trace.loss()).all() and np.isfinite(trace.metric("accuracy")).all()
    assert trace.last_record.all_finite


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
    assert run.monitor.model.extra["output_values"]["min"] >= 0  # the values the loss received


def test_one_host_transfer_per_ordinary_step(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = tm.images()
    model = tm.cnn()
    counts = {"to_cpu": 0, "sync": 0}
    cpu = torch.Tensor.cpu

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
        tm.train(model, x, y, steps=1)  # step 1 (statistics) also reads the first batch's facts once
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
    with _watch(model, opt, config=dl.Config(stats_every=1)) as run:
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
    with _watch(model, opt, config=dl.Config(stats_every=1)) as run:
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
    assert trace.steps_observed == 3 and not run.monitor.siblings
    rec = trace.last_record
    assert rec.stats[(0, Channel.UPDATE)][summary.NORM] > 0
    assert rec.stats[(2, Channel.UPDATE)][summary.NORM] > 0
    assert run.monitor.model.extra["optimizers"] == ["sgd", "adam"]


def test_without_optimizer_each_backward_is_a_step() -> None:
    x, y = tm.blobs()
    model = tm.mlp()
    with _watch(model) as run:
        for _ in range(3):
            model.zero_grad()
            F.cross_entropy(model(x), y).backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
    trace = run.monitor.trace
    assert trace.steps_observed == 3 and np.isfinite(trace.loss()).all()


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
    assert run.diagnosis is not None and run.diagnosis.tool_errors == []


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
    with _watch(model, opt, config=dl.Config(stats_every=1)) as run:
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
    with _watch(model, opt, config=dl.Config(stats_every=1)) as run:
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
    softmax = torch.nn.functional.softmax
    with _watch(model) as run:
        tm.train(model, x, y, steps=3)
    assert any("probe exploded" in e for e in run.diagnosis.tool_errors)
    assert all(torch.equal(a, b) for a, b in zip(_final_state(plain), _final_state(model), strict=True))
    # the statistics steps' hooks went with their steps, though each step's end failed
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    assert torch.nn.functional.softmax is softmax and "softmax" not in vars(torch.Tensor)


class _NanGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        return grad * float("nan")


class _NanGradFrom(nn.Module):
    """Identity forward; once ``armed``, its backward turns the gradient into NaN."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _NanGrad.apply(x) if self.armed else x


def _train_arming(model: nn.Module, bad: nn.Module, arm_at: int, steps: int, **watch: object):
    """Train ``steps`` steps under watch; ``bad.armed`` from step ``arm_at`` on."""
    x, y = tm.blobs()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with _watch(model, opt, **watch) as run:
        for step in range(1, steps + 1):
            bad.armed = step >= arm_at
            tm.train(model, x, y, steps=1, opt=opt)
    return run


def test_nan_made_in_forward_on_an_ordinary_step_is_localized_by_replay() -> None:
    torch.manual_seed(0)
    bad = tm.NanFrom()
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), bad, nn.ReLU(), nn.Linear(16, 3))
    run = _train_arming(model, bad, arm_at=3, steps=3, config=dl.Config(stats_every=10))
    trace = run.monitor.trace
    assert list(trace.series(2, Channel.OUTPUT, "nonfinite") > 0) == [False, False, True]
    assert trace.series(2, Channel.INPUT, "nonfinite")[2] == 0  # finite in, NaN out: the producer
    assert trace.last_record.replay == "reproduced"
    first = run.diagnosis.findings[0]
    assert (first.symptom, first.phase, first.layer.index, first.step) == (
        Symptom.NUMERICAL_ERROR, Phase.FORWARD, 2, 3)


def test_nan_made_in_backward_is_localized_by_replay() -> None:
    torch.manual_seed(0)
    bad = _NanGradFrom()
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), bad, nn.Linear(16, 3))
    run = _train_arming(model, bad, arm_at=3, steps=3, config=dl.Config(stats_every=10))
    trace = run.monitor.trace
    assert trace.series(3, Channel.OUTPUT_GRAD, "nonfinite")[2] == 0  # what reached it was finite
    assert trace.series(2, Channel.OUTPUT_GRAD, "nonfinite")[2] == 0
    assert trace.series(1, Channel.OUTPUT_GRAD, "nonfinite")[2] > 0  # what it passed on was not
    first = run.diagnosis.findings[0]
    assert (first.symptom, first.phase, first.step) == (Symptom.NUMERICAL_ERROR, Phase.BACKWARD, 3)
    assert first.layer.index == 2


def test_a_replay_restores_rng_buffers_and_gradients() -> None:
    def run_once(watched: bool) -> tuple[list[torch.Tensor], torch.Tensor]:
        model = _bn_model()
        bad = tm.NanFrom()
        model.insert(3, bad)  # after BatchNorm and before Dropout: the replay uses both
        x, y = tm.blobs()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        torch.manual_seed(11)
        block = _watch(model, opt, config=dl.Config(stats_every=50)) if watched else None
        if block is not None:
            block.__enter__()
        for step in range(1, 6):
            bad.armed = step == 3  # one NaN step (replayed), then healthy data again
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            if step != 3:  # the user skips the broken update (as a GradScaler would)
                opt.step()
        if block is not None:
            block.__exit__(None, None, None)
            assert block.diagnosis.findings and block.monitor.trace.steps_observed == 4
        return _final_state(model), torch.get_rng_state()

    plain, rng_plain = run_once(False)
    watched, rng_watched = run_once(True)
    assert all(_same(a, b) for a, b in zip(plain, watched, strict=True))
    assert torch.equal(rng_plain, rng_watched)


class _RunningMean(nn.Module):
    """Identity that keeps a running mean of its input in a parameter that is not trained, as a Keras
    BatchNormalization keeps its moving statistics (non-trainable variables, not buffers)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(width), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                self.mean.mul_(0.9).add_(0.1 * x.mean(0))
        return x


def test_a_replay_restores_state_kept_in_parameters_that_are_not_trained() -> None:
    def run_once(watched: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        bad = tm.NanFrom()
        model = nn.Sequential(nn.Linear(8, 16), _RunningMean(16), nn.ReLU(), bad, nn.Linear(16, 3))
        x, y = tm.blobs()
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        block = _watch(model, opt, config=dl.Config(stats_every=50)) if watched else None
        if block is not None:
            block.__enter__()
        for step in range(1, 6):
            bad.armed = step == 3  # one NaN step (replayed), then healthy data again
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            if step != 3:
                opt.step()
        if block is not None:
            block.__exit__(None, None, None)
            assert block.monitor.trace.last_record is not None
        return _final_state(model)

    assert all(_same(a, b) for a, b in zip(run_once(False), run_once(True), strict=True))


def test_a_nan_the_replay_does_not_reproduce_is_said_and_flags_follow() -> None:
    class Glitch(nn.Module):
        """NaN on one call only (a transient fault): the replay runs it clean."""

        def __init__(self) -> None:
            super().__init__()
            self.left = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.left:
                self.left -= 1
                return x / 0.0
            return x

    torch.manual_seed(0)
    glitch = Glitch()
    model = nn.Sequential(nn.Linear(8, 16), glitch, nn.Linear(16, 3))
    x, y = tm.blobs()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the NaN does not reach the weights
    seen: list[int] = []
    with _watch(model, opt, config=dl.Config(stats_every=100)) as run:
        for step in range(1, 6):
            glitch.left = 1 if step == 3 else 0
            tm.train(model, x, y, steps=1, opt=opt)
            seen.append(_layer_hooks(model))
    records = list(run.monitor.trace.records())
    assert [r.step for r in records] == [1, 2, 3, 4, 5]
    assert run.monitor.trace.loss()[2] != run.monitor.trace.loss()[2]  # NaN at step 3
    first = run.diagnosis.findings[0]
    assert first.step == 3 and first.evidence.get("replay") == "not_reproduced"
    assert seen[3] > 0  # per-layer flags on the steps after it
    assert list(np.isfinite(run.monitor.trace.series(1, Channel.OUTPUT, "nonfinite"))) == [
        True, False, True, True, True]


def test_stop_policy_ends_the_loop_before_the_update_and_code_after_runs() -> None:
    torch.manual_seed(0)
    bad = tm.NanFrom()
    model = nn.Sequential(nn.Linear(8, 16), bad, nn.Linear(16, 3))
    x, y = tm.blobs()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    steps_run = 0
    with dl.watch(model, opt, on_fault="stop", store=False) as run:
        for step in range(1, 11):
            bad.armed = step >= 2
            before = [p.detach().clone() for p in model.parameters()]
            tm.train(model, x, y, steps=1, opt=opt)
            steps_run += 1
    assert run.stopped_early and run.diagnosis.stopped_early and steps_run == 1
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))  # no NaN update
    assert run.diagnosis.findings[0].step == 2


def test_raise_policy_raises_fault_detected() -> None:
    torch.manual_seed(0)
    bad = tm.NanFrom()
    model = nn.Sequential(nn.Linear(8, 16), bad, nn.Linear(16, 3))
    with pytest.raises(dl.FaultDetected):
        _train_arming(model, bad, arm_at=2, steps=5, on_fault="raise")


# ---------------------------------------------------------------------------------------- cadence
def test_statistics_steps_are_dense_first_then_sparse_and_dense_again_after_an_lr_change() -> None:
    x, y = tm.blobs()
    model = tm.mlp(dropout=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    config = dl.Config(stats_every=2, stats_dense_steps=6, stats_every_max=8, check_every=1000)
    with _watch(model, opt, config=config) as run:
        for step in range(1, 41):
            if step == 30:
                opt.param_groups[0]["lr"] = 0.01  # a step schedule's drop
            tm.train(model, x, y, steps=1, opt=opt)
    trace = run.monitor.trace
    stats = [int(s) for s, m in zip(trace.steps(), trace.series(0, Channel.OUTPUT, "mean"), strict=True)
             if np.isfinite(m)]
    assert stats == [1, 3, 5, 7, 11, 19, 27, 31, 33, 35, 37]


# ---------------------------------------------------------------------------------------- held-back records
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


def test_run_log_attaches_to_the_step_just_trained_while_records_are_held_back() -> None:
    model = tm.mlp()
    x, y = tm.blobs()
    with _watch(model, config=dl.Config(check_every=50)) as run:
        tm.train(model, x, y, steps=7)
        run.log(val_accuracy=0.5)
        assert run.monitor.trace.last_step == 7
    assert list(run.monitor.trace.metric("val_accuracy") == 0.5).index(True) == 6


def test_held_back_records_reach_the_monitor_within_the_hold_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch_handoff, "MAX_HOLD_S", 0.0)  # slow steps: every step is shown at once
    model = tm.mlp()
    x, y = tm.blobs()
    with _watch(model, config=dl.Config(check_every=50)) as run:
        tm.train(model, x, y, steps=4)
        assert run.monitor.trace.steps_observed == 4


def test_a_late_fault_is_found_soon_after_the_cadence_has_backed_off() -> None:
    """Verdict latency for a fault that starts late: 1,500 healthy steps (statistics back off to every 200
    steps), then Adam's lr raised 1000-fold kills the ReLU units. The lr change makes the cadence dense again,
    so the dead layer is confirmed within ``stats_every`` x ``tensor_min_points_sparse`` (80) steps."""
    torch.manual_seed(0)
    x = torch.randn(512, 20)
    y = (x @ torch.randn(20, 1) > 0).long().squeeze(1)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    bump = 1501
    with _watch(model, opt) as run:
        for step in range(1, bump + 120):
            if step == bump:
                for group in opt.param_groups:
                    group["lr"] = 1.0
            rows = torch.randint(0, 512, (64,))
            opt.zero_grad()
            F.cross_entropy(model(x[rows]), y[rows]).backward()
            opt.step()
            if step == bump - 1:
                assert run.monitor.findings == [], "healthy until the bump"
                assert run.session.units[0].cadence.gap == dl.Config().stats_every_max  # backed off
    layered = [f for f in run.diagnosis.findings if f.layer is not None and f.severity == "fault"]
    assert layered, run.diagnosis.findings
    first = min(f.detected_at or f.step for f in layered)
    assert bump <= first <= bump + 80, [(f.symptom, f.step, f.detected_at) for f in layered]


def test_a_step_keeps_none_of_its_tensors_alive_after_it_ends() -> None:
    """The replay's references (the forward's arguments and outputs, the output gradients) are dropped
    when the step ends: no tensor of a step outlives it (a leak grows memory with every step)."""
    import gc
    import weakref

    torch.manual_seed(0)
    x, y = tm.blobs()
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    outputs = []
    with _watch(model, opt):
        for _ in range(30):
            opt.zero_grad()
            out = model(x)
            outputs.append(weakref.ref(out))
            F.cross_entropy(out, y).backward()
            opt.step()
            del out
    gc.collect()
    assert [ref() is None for ref in outputs] == [True] * len(outputs)


def test_a_statistics_step_that_first_sees_a_layer_still_measures_every_weight() -> None:
    """A layer called for the first time at a statistics step is indexed then (the check's plan is made
    again): that step's weights and updates are still measured, with the plan the step began with."""

    class Late(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.extra, self.use_extra = nn.Linear(4, 4), nn.Linear(4, 4), False

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.fc(x)
            return self.extra(x) if self.use_extra else x

    torch.manual_seed(0)
    model = Late()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with _watch(model, opt, config=dl.Config(stats_every=5)) as run:
        for step in range(1, 12):
            model.use_extra = step >= 6  # first called at step 6, a statistics step
            loss = model(torch.randn(8, 4)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    trace = run.monitor.trace
    updates = trace.matrix(0, Channel.UPDATE)[:, summary.NORM]
    steps = list(trace.steps())
    assert np.isfinite(updates[steps.index(6)]) and np.isfinite(updates[steps.index(11)])
