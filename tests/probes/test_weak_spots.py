"""The weak spots seen when the tool was tried on other people's programs, each as a small program of our
own (PyTorch, ``dl.watch`` at default settings): the verdict, the root cause and the fix must be right."""

from __future__ import annotations

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402, N812
from torch import nn  # noqa: E402

import deeplocalize as dl  # noqa: E402
from deeplocalize.vocabulary import Category, Symptom, Verdict  # noqa: E402

torch.set_num_threads(1)


def _digits(scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0 - 0.5) * scale
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y)


def _mlp(width: int = 64) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, 10))


def _train(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, steps: int,
           batch: int = 32) -> dl.Diagnosis:
    with dl.watch(model, opt, store=False) as run:
        for step in range(steps):
            i = (step * batch) % (len(x) - batch)
            opt.zero_grad()
            F.cross_entropy(model(x[i:i + batch]), y[i:i + batch]).backward()
            opt.step()
    assert run.diagnosis is not None and run.diagnosis.tool_errors == []
    return run.diagnosis


def test_a_layer_left_out_of_the_optimizer_is_a_training_fault_at_that_layer() -> None:
    """A parameter group forgotten: the hidden layer receives gradients but is never updated."""
    x, y = _digits()
    model = _mlp()
    opt = torch.optim.Adam([*model[0].parameters(), *model[4].parameters()], lr=1e-3)
    d = _train(model, opt, x, y, steps=200)
    assert d.verdict == Verdict.FAULTY
    cause = d.root_causes[0]
    assert cause.category == Category.TRAINING and cause.layer is not None and cause.layer.name == "2"
    assert "optimizer" in cause.fix


def test_a_learning_rate_blow_up_is_blamed_on_the_learning_rate_not_the_loss() -> None:
    """The loss grows for several steps, then turns NaN: the learning rate made it, not the loss."""
    x, y = _digits()
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=3.0, momentum=0.9)
    d = _train(model, opt, x, y, steps=200)
    assert d.verdict == Verdict.FAULTY
    assert d.root_causes[0].category == Category.LEARNING_RATE
    assert re.search(r"too high|lower|far above", d.root_causes[0].fix)


def test_unscaled_inputs_in_a_run_that_learns_are_a_warning_only() -> None:
    x, y = _digits(scale=200.0)  # values up to 100: unnormalized, yet Adam learns
    model = _mlp()
    d = _train(model, torch.optim.Adam(model.parameters(), lr=1e-3), x, y, steps=250)
    assert d.verdict == Verdict.HEALTHY
    assert Symptom.UNNORMALIZED_INPUT in {w.symptom for w in d.warnings}


def test_learning_far_too_slowly_to_the_end_is_told_to_train_longer_or_raise_the_lr() -> None:
    """SGD at lr 0.03: the loss still falls steeply when the 300 steps end (accuracy about 0.65, where lr 0.3
    reaches about 0.96 in the same budget). Only the user knows the budget, so it is a warning, not a fault;
    the same program at lr 0.3 converges and gets no such warning."""
    x, y = _digits()
    slow = _mlp()
    d = _train(slow, torch.optim.SGD(slow.parameters(), lr=0.03), x, y, steps=300)
    assert d.verdict == Verdict.HEALTHY
    [warning] = [w for w in d.warnings if w.evidence.get("rule") == "still_falling"]
    assert warning.symptom == Symptom.SLOW_CONVERGENCE
    assert [c.category for c in warning.causes] == [Category.TRAINING, Category.LEARNING_RATE]
    assert "train longer" in warning.causes[0].fix
    assert re.search(r"raise|too low|far below", warning.causes[1].fix)
    paced = _mlp()
    d = _train(paced, torch.optim.SGD(paced.parameters(), lr=0.3), x, y, steps=300)
    assert d.verdict == Verdict.HEALTHY
    assert not [w for w in d.warnings if w.evidence.get("rule") == "still_falling"]


def test_a_fix_agrees_with_its_evidence_a_diverging_loss_is_never_told_to_raise_the_lr() -> None:
    """A loss that rises thousands of times over is a divergence: 'lower the lr', never 'raise it'."""
    x, y = _digits()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=8.0)
    d = _train(model, opt, x, y, steps=300)
    assert d.verdict == Verdict.FAULTY
    for cause in d.root_causes:
        if cause.category == Category.LEARNING_RATE:
            assert not re.search(r"too low|far below|raise", cause.fix), cause.fix
    assert all(f.symptom != Symptom.SLOW_CONVERGENCE for f in d.findings)


def test_fixes_fit_the_layer_an_activation_layer_is_never_told_to_reinitialize() -> None:
    """Dead ReLUs at birth: the weights to re-initialize are those of the Linear before the ReLU."""
    x, y = _digits()
    model = _mlp()
    with torch.no_grad():
        model[0].bias.fill_(-20.0)  # every unit of the first ReLU dead from the start
    d = _train(model, torch.optim.Adam(model.parameters(), lr=1e-3), x, y, steps=120)
    assert d.verdict == Verdict.FAULTY
    for cause in d.root_causes:
        if cause.category == Category.INITIALIZATION and cause.layer is not None:
            assert cause.layer.name in ("0", "2", "4"), cause  # a Linear, never a ReLU module


def test_a_script_that_crashes_at_step_one_is_still_diagnosed_from_what_it_received() -> None:
    """A one-unit sigmoid fed labels 0..2: BCELoss raises at the first step; the labels were seen."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())
    x = torch.randn(64, 4)
    y = torch.tensor(np.arange(64) % 3, dtype=torch.float32).unsqueeze(1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(RuntimeError), dl.watch(model, opt, store=False) as run:
        opt.zero_grad()
        F.binary_cross_entropy(model(x), y).backward()
        opt.step()
    d = run.diagnosis
    assert d.verdict == Verdict.FAULTY and d.findings[0].symptom == Symptom.OUTPUT_OUT_OF_RANGE
    assert {c.category for c in d.root_causes[:2]} & {Category.LOSS, Category.ARCHITECTURE}


def test_mse_on_outputs_of_shape_n_1_against_targets_of_shape_n_is_a_loss_fault_at_once() -> None:
    """(N, 1) predictions against (N,) targets: ``F.mse_loss`` broadcasts to (N, N) (PyTorch only warns);
    the facts of the first loss call show it."""
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0])
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with pytest.warns(UserWarning, match="target size"), dl.watch(model, opt, store=False) as run:
        for i in range(20):
            j = (i * 32) % 256
            loss = F.mse_loss(model(x[j:j + 32]), y[j:j + 32])
            opt.zero_grad()
            loss.backward()
            opt.step()
    found = run.diagnosis.faults[0]
    assert found.symptom == Symptom.ACTIVATION_LOSS_MISMATCH and found.step == 1 and found.layer is None
    assert run.diagnosis.root_causes[0].category == Category.LOSS and run.stopped_early


def test_a_deep_tanh_stack_initialized_far_too_small_is_blamed_on_its_initialization() -> None:
    """Eight tanh layers drawn from N(0, 0.01), 7x below PyTorch's default scale for their fan-in: the
    gradient vanishes at once; the initialization is ranked first, named at the first layer."""
    x, y = _digits()
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(8):
        linear = nn.Linear(64, 64)
        nn.init.normal_(linear.weight, 0.0, 0.01)
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.Tanh()]
    model = nn.Sequential(*layers, nn.Linear(64, 10))
    d = _train(model, torch.optim.SGD(model.parameters(), lr=0.05), x, y, steps=100)
    assert d.verdict == Verdict.FAULTY and d.findings[0].symptom == Symptom.VANISHING_GRADIENT
    cause = d.root_causes[0]
    assert cause.category == Category.INITIALIZATION and cause.layer is not None and cause.layer.name == "0"
    assert "smaller than the default scale" in cause.fix


def test_a_dropout_rate_that_is_a_keep_probability_is_named_when_learning_stalls() -> None:
    """``nn.Dropout(0.95)`` (a keep probability passed as the rate): the run does not learn; the dropout
    layer is named, architecture first. The same program at 0.2 learns."""
    x, y = _digits()
    for rate, faulty in ((0.95, True), (0.2, False)):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(rate), nn.Linear(32, 32), nn.ReLU(),
                              nn.Dropout(rate), nn.Linear(32, 10))
        d = _train(model, torch.optim.SGD(model.parameters(), lr=0.05), x, y, steps=400)
        assert (d.verdict == Verdict.FAULTY) == faulty
        if faulty:
            cause = d.root_causes[0]
            assert cause.category == Category.ARCHITECTURE and cause.layer.name == "2"
            assert "drops 95% of its inputs" in cause.fix


def test_an_embedding_frozen_at_its_random_init_is_a_training_fault_at_that_layer() -> None:
    """``requires_grad_(False)`` on an embedding that was never loaded with pretrained vectors: the model
    cannot learn the task through its random features; training is ranked first, at the embedding."""
    vocab, length = 500, 20
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, vocab, size=(2000, length))
    labels = ((tokens % 2 == 0).sum(axis=1) > length / 2).astype(np.int64)
    x, y = torch.tensor(tokens), torch.tensor(labels)

    class Bag(nn.Module):
        def __init__(self, frozen: bool) -> None:
            super().__init__()
            self.emb = nn.Embedding(vocab, 8)
            nn.init.uniform_(self.emb.weight, -0.05, 0.05)
            self.emb.weight.requires_grad_(not frozen)
            self.fc, self.out = nn.Linear(8, 16), nn.Linear(16, 2)

        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return self.out(F.relu(self.fc(self.emb(t).mean(1))))

    for frozen in (True, False):
        torch.manual_seed(0)
        model = Bag(frozen)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=5e-3)
        d = _train(model, opt, x, y, steps=400)
        assert (d.verdict == Verdict.FAULTY) == frozen
        if frozen:
            cause = d.root_causes[0]
            assert cause.category == Category.TRAINING and cause.layer.name == "emb"


class _ReluLogits(nn.Module):
    """A linear classifier whose ``forward`` clamps its class scores with ``torch.relu``: invisible in the
    module types, visible in the values the loss receives."""

    def __init__(self, clamp: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.l1 = nn.Linear(64, 10)
        self.clamp = clamp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.l1(x)
        return torch.relu(scores) if self.clamp else scores


def test_logits_clamped_by_a_relu_in_forward_are_an_activation_fault_at_the_last_layer() -> None:
    x, y = _digits()
    model = _ReluLogits(clamp=True)
    d = _train(model, torch.optim.Adam(model.parameters(), lr=0.02), x, y, steps=20)
    assert d.verdict == Verdict.FAULTY
    cause = d.root_causes[0]
    assert cause.category == Category.ACTIVATION and cause.layer is not None and cause.layer.name == "l1"
    assert "remove the relu" in cause.fix
    healthy = _ReluLogits(clamp=False)
    d = _train(healthy, torch.optim.Adam(healthy.parameters(), lr=0.02), x, y, steps=20)
    assert d.verdict != Verdict.FAULTY
    assert all(f.symptom != Symptom.ACTIVATION_LOSS_MISMATCH for f in d.findings)
