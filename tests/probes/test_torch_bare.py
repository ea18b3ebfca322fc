"""Training with no ``nn.Module``: the tensors a loss trains are watched as a model (``torch_bare``)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from deeplocalize.config import Config  # noqa: E402
from deeplocalize.errors import StopTraining  # noqa: E402
from deeplocalize.monitor import Monitor  # noqa: E402
from deeplocalize.probes.torch import instrument  # noqa: E402
from deeplocalize.probes.torch_bare import trained_leaves, variable_names  # noqa: E402
from deeplocalize.vocabulary import Channel, Symptom, Verdict  # noqa: E402


def _data(n: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=gen)
    y = x @ torch.tensor([[2.0], [-3.4]]) + 4.2
    return x, y


def _from_scratch(steps: int, lr: float, use_optimizer: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """d2l's linear regression from scratch: leaf tensors, a hand-written loss and update."""
    torch.manual_seed(0)
    x, y = _data()
    w = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=lr) if use_optimizer else None
    for step in range(steps):
        batch = slice(10 * (step % 20), 10 * (step % 20) + 10)
        loss = ((x[batch] @ w + b - y[batch]) ** 2 / 2).mean()
        if opt is not None:
            opt.zero_grad()
        loss.backward()
        if opt is not None:
            opt.step()
        else:
            with torch.no_grad():
                for param in (w, b):
                    param -= lr * param.grad
                    param.grad.zero_()
    return w, b


def test_the_tensors_a_loss_trains_are_found_in_forward_order_under_their_names() -> None:
    w = torch.ones(2, 1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    params = [torch.ones(1, requires_grad=True)]
    frozen = torch.ones(2, 1)  # no gradient: not trained
    loss = ((torch.randn(4, 2) @ (w + frozen) + b).sum() * params[0])
    leaves = trained_leaves(loss)
    assert [id(t) for t in leaves] == [id(w), id(b), id(params[0])]
    assert variable_names(leaves) == ["w", "b", "params[0]"]
    assert variable_names([torch.ones(1, requires_grad=True)]) == ["tensor_0"]


def test_a_loop_with_no_module_is_watched_step_by_step_and_left_as_it_would_be() -> None:
    plain_w, plain_b = _from_scratch(100, lr=0.05)
    monitor = Monitor("torch", config=Config(stats_every=1))
    with instrument(monitor):
        w, b = _from_scratch(100, lr=0.05)
    assert torch.equal(w, plain_w) and torch.equal(b, plain_b)  # observed, never altered
    assert [layer.name for layer in monitor.model.layers] == ["w", "b"]
    trace = monitor.trace
    assert trace.steps_observed == 100 and all(r.loss is not None for r in trace.records())
    last = trace.last_record
    assert last.stats[(0, Channel.WEIGHT_GRAD)] is not None and (0, Channel.UPDATE) in last.stats
    assert monitor.finish(completed=True).verdict == Verdict.HEALTHY
    assert monitor.tool_errors == []


def test_each_backward_is_a_step_when_no_optimizer_steps_and_the_last_one_is_kept() -> None:
    monitor = Monitor("torch")  # default cadence: most steps are ordinary ones
    with instrument(monitor):
        _from_scratch(25, lr=0.05)
    assert monitor.trace.steps_observed == 25 and monitor.trace.last_record.step == 25


def test_an_optimizer_over_bare_tensors_makes_the_steps() -> None:
    monitor = Monitor("torch")
    with instrument(monitor):
        _from_scratch(30, lr=0.05, use_optimizer=True)
    assert monitor.trace.steps_observed == 30 and monitor.model.optimizer.name == "sgd"
    assert monitor.tool_errors == []


def test_a_diverging_loop_with_no_module_is_stopped_before_its_update_turns_nan() -> None:
    monitor = Monitor("torch")
    with pytest.raises(StopTraining), instrument(monitor):
        _from_scratch(200, lr=3.0)  # far too large for unit-variance inputs: the loss explodes
    diagnosis = monitor.finish(stopped_early=True)
    assert diagnosis.verdict == Verdict.FAULTY
    assert diagnosis.root_causes[0].category.value == "learning_rate"
    assert monitor.tool_errors == []


def test_a_model_with_an_extra_bare_tensor_is_watched_as_the_model_alone() -> None:
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    temperature = torch.ones(1, requires_grad=True)  # trained beside the model
    opt = torch.optim.SGD([*model.parameters(), temperature], lr=0.01)
    x, y = _data()
    monitor = Monitor("torch")
    with instrument(monitor):
        for _ in range(5):
            opt.zero_grad()
            loss = ((model(x) * temperature - y) ** 2).mean()
            loss.backward()
            opt.step()
    assert [layer.name for layer in monitor.model.layers] == ["Linear"]
    assert monitor.trace.steps_observed == 5 and math.isfinite(monitor.trace.last_record.loss)


def test_dl_watch_takes_the_list_of_tensors_a_loop_trains() -> None:
    import deeplocalize as dl

    torch.manual_seed(0)
    x, y = _data()
    w = torch.zeros(2, 1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    with dl.watch([w, b], store=False) as run:
        for _ in range(120):
            loss = ((x[:20] @ w + b - y[:20]) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                for param in (w, b):
                    param -= 0.05 * param.grad
                    param.grad = None
    assert run.diagnosis.steps_observed == 120 and run.diagnosis.verdict == Verdict.HEALTHY
    assert [layer.name for layer in run.diagnosis.layers] == ["w", "b"]
    with pytest.raises(TypeError, match="a list of tensors"):
        dl.watch("model")


def _attack(model: nn.Module, steps: int) -> torch.Tensor:
    """Madry-style PGD on a model in eval mode: a leaf perturbation climbs the loss, nothing is trained."""
    x, y = _data(64)
    target = (y.reshape(-1) > y.median()).long()
    delta = torch.zeros_like(x, requires_grad=True)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x + delta), target)
        loss.backward()
        delta.data = (delta + 0.05 * delta.grad.sign()).clamp(-0.5, 0.5)
        delta.grad.zero_()
    return delta


def test_an_attack_on_a_model_in_eval_mode_is_not_taken_for_training() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2)).eval()
    monitor = Monitor("torch")
    with instrument(monitor):
        _attack(model, 150)  # the loss rises every step: by design
    diagnosis = monitor.finish(completed=True)
    assert diagnosis.steps_observed == 0 and not diagnosis.findings and not monitor.stopped_early


def test_a_model_found_after_bare_tensors_replaces_them() -> None:
    torch.manual_seed(0)
    frozen = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2)).eval().requires_grad_(False)
    monitor = Monitor("torch")
    with instrument(monitor):
        _attack(frozen, 5)  # only the perturbation requires a gradient: adopted as bare tensors at first
        frozen.train().requires_grad_(True)
        opt = torch.optim.SGD(frozen.parameters(), lr=0.01)
        x, y = _data(64)
        target = (y.reshape(-1) > y.median()).long()
        for _ in range(10):
            opt.zero_grad()
            nn.functional.cross_entropy(frozen(x), target).backward()
            opt.step()
    assert [layer.name for layer in monitor.model.layers] == ["0", "1", "2"]
    assert monitor.trace.steps_observed == 10 and monitor.tool_errors == []


def test_a_regression_converged_to_float_precision_runs_healthy_to_its_end() -> None:
    # full-batch gradient descent reaches the least-squares optimum within ~150 steps; from then on every
    # update rounds away and the loss is bit-identical: neither "weights never change" nor "the loss is
    # identical: the model does not learn" (the run learned: from 18.6 to 0.56, its noise floor)
    torch.manual_seed(0)
    x = torch.randn(200, 1)
    y = 3 * x + 5 + torch.randn(200, 1)
    w, b = torch.randn(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    monitor = Monitor("torch")
    with instrument(monitor):
        for _ in range(2500):
            loss = (0.5 * (y - (w * x + b)) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                w -= 0.1 * w.grad
                b -= 0.1 * b.grad
            w.grad.zero_()
            b.grad.zero_()
    assert monitor.trace.steps_observed == 2500
    assert [round(layer.extra["update_gain"], 6) for layer in monitor.model.layers] == [0.1, 0.1]
    assert monitor.finish(completed=True).verdict == Verdict.HEALTHY and monitor.tool_errors == []


def test_layers_trained_through_direct_forward_calls_keep_their_steps_when_a_module_is_called_later() -> None:
    """Forward-forward training: each layer trains itself by calling its own ``forward`` (no module hook
    fires), so its parameters are watched as bare tensors; calling the layers as modules afterwards (to
    predict) must not throw away what was recorded."""

    class Layer(nn.Linear):
        def __init__(self, n_in: int, n_out: int) -> None:
            super().__init__(n_in, n_out)
            self.opt = torch.optim.Adam(self.parameters(), lr=0.03)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(torch.mm(x / (x.norm(2, 1, keepdim=True) + 1e-4), self.weight.T) + self.bias)

        def fit(self, pos: torch.Tensor, neg: torch.Tensor) -> None:
            for _ in range(120):
                good_pos, good_neg = self.forward(pos).pow(2).mean(1), self.forward(neg).pow(2).mean(1)
                loss = torch.log1p(torch.exp(torch.cat([2 - good_pos, good_neg - 2]))).mean()
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()

    torch.manual_seed(0)
    layers = [Layer(20, 30), Layer(30, 30)]
    pos, neg = torch.randn(64, 20) + 1, torch.randn(64, 20)
    monitor = Monitor("torch")
    with instrument(monitor):
        layers[0].fit(pos, neg)
        layers[1].fit(layers[0].forward(pos).detach(), layers[0].forward(neg).detach())
        layers[1](layers[0](pos))  # predicting, through the modules (still in training mode)
    diagnosis = monitor.finish(completed=True)
    assert diagnosis.steps_observed >= 120 and diagnosis.verdict == Verdict.HEALTHY
    # the module called to predict never stepped and showed nothing: not reported as a model trained
    assert diagnosis.models == [] and diagnosis.model is None and monitor.tool_errors == []


def test_a_too_confident_start_of_tensors_trained_by_hand_names_the_last_matrix_not_its_bias() -> None:
    """makemore's MLP written with plain tensors (``h @ W2 + b2`` from ``torch.randn``): the first loss is
    far above log K. The advice names ``W2``, the tensor the script creates, not the bias after it, and
    not a module initializer the script has none of."""
    import deeplocalize as dl

    gen = torch.Generator().manual_seed(0)
    emb, w1, b1 = (torch.randn(*shape, generator=gen, requires_grad=True) for shape in ((27, 10), (30, 200),
                                                                                        (200,)))
    w2, b2 = torch.randn(200, 27, generator=gen, requires_grad=True), torch.randn(27, generator=gen,
                                                                                 requires_grad=True)
    x = torch.randint(0, 27, (640, 3), generator=gen)
    y = x.sum(1) % 27
    params = [emb, w1, b1, w2, b2]
    with dl.watch(params, store=False) as run:
        for _ in range(200):
            ix = torch.randint(0, 640, (32,), generator=gen)
            logits = torch.tanh(emb[x[ix]].view(-1, 30) @ w1 + b1) @ w2 + b2
            loss = nn.functional.cross_entropy(logits, y[ix])
            for p in params:
                p.grad = None
            loss.backward()
            for p in params:
                p.data += -0.1 * p.grad
    assert run.diagnosis is not None
    init = [f for f in run.diagnosis.findings if f.symptom == Symptom.POOR_INITIALIZATION]
    assert len(init) == 1
    fix = init[0].causes[0].fix
    assert "`w2` (Tensor)" in fix and "torch.randn" in fix and "kernel_initializer" not in fix
