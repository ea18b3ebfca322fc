"""End to end: small torch trainings with a known fault, diagnosed through ``watch``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402, N812
from torch import nn  # noqa: E402

import deeplocalize as dl  # noqa: E402
from deeplocalize.vocabulary import Category, Phase, Symptom, Verdict  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import _torch_models as tm  # noqa: E402


def _diagnose(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float = 0.1,
              loss_fn=None, on_fault: str = "stop") -> dl.Diagnosis:
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    with dl.watch(model, opt, on_fault=on_fault, store=False) as run:
        for step in range(steps):
            i = (step * 16) % len(x)
            xb, yb = x[i:i + 16], y[i:i + 16]
            opt.zero_grad()
            out = model(xb)
            loss = loss_fn(out, yb) if loss_fn is not None else F.cross_entropy(out, yb)
            loss.backward()
            opt.step()
    assert run.diagnosis is not None and run.diagnosis.tool_errors == []
    return run.diagnosis


def _symptoms(d: dl.Diagnosis) -> set[tuple[str, str, str | None]]:
    return {(str(f.symptom), str(f.phase), f.layer.name if f.layer else None) for f in d.findings}


class DivideByZeroFrom(nn.Module):
    def __init__(self, k: int) -> None:
        super().__init__()
        self.k, self.calls = k, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x / torch.zeros_like(x) if self.calls >= self.k else x


def test_custom_layer_dividing_by_zero_is_the_producer_at_step_k() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), DivideByZeroFrom(5), nn.Linear(16, 3))
    x, y = tm.blobs()
    d = _diagnose(model, x, y, steps=30)
    assert d.verdict == Verdict.FAULTY and d.stopped_early
    first = d.findings[0]
    assert (first.symptom, first.phase, first.layer.name, first.step) == (
        Symptom.NUMERICAL_ERROR, Phase.FORWARD, "2", 5)


def test_learning_rate_that_explodes_the_weights() -> None:
    torch.manual_seed(0)
    x, y = tm.blobs()
    x = x * 10
    d = _diagnose(tm.mlp(dropout=False), x, y, steps=60, lr=50.0)
    assert d.verdict == Verdict.FAULTY
    assert d.root_causes and d.root_causes[0].category == Category.LEARNING_RATE


def test_log_of_zero_in_a_hand_written_loss() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3), nn.Softmax(dim=1))
    with torch.no_grad():
        model[2].weight.mul_(1000.0)

    def hand_ce(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return -(torch.log(probs) * F.one_hot(target, 3)).sum(dim=1).mean()

    x, y = tm.blobs()
    d = _diagnose(model, x, y, steps=30, loss_fn=hand_ce)
    assert d.verdict == Verdict.FAULTY
    first = d.findings[0]
    assert (first.symptom, first.phase) == (Symptom.NUMERICAL_ERROR, Phase.LOSS)
    assert any(c.category == Category.LOSS for c in d.root_causes)


def test_softmax_over_a_single_unit() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1), nn.Softmax(dim=1))
    x, y = tm.blobs()
    yb = (y == 0).float().unsqueeze(1)
    d = _diagnose(model, x, yb, steps=40, loss_fn=F.binary_cross_entropy, on_fault="continue")
    assert d.verdict == Verdict.FAULTY
    assert any(f.layer is not None and f.layer.name == "3" for f in d.findings), _symptoms(d)
    assert any(c.category == Category.ACTIVATION for c in d.root_causes)


def test_all_dead_relu_layer() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    with torch.no_grad():
        model[0].bias.fill_(-100.0)
    x, y = tm.blobs()
    d = _diagnose(model, x, y, steps=40, on_fault="continue")
    assert d.verdict == Verdict.FAULTY
    assert (str(Symptom.DEAD_UNITS), str(Phase.FORWARD), "1") in _symptoms(d) or any(
        f.layer is not None and f.layer.name in ("0", "1") for f in d.findings), _symptoms(d)


@pytest.mark.parametrize("make,data", [(tm.mlp, tm.blobs), (tm.cnn, tm.images)])
def test_healthy_models_have_no_findings(make, data) -> None:
    x, y = data(n=128)
    d = _diagnose(make(), x, y, steps=100, lr=0.05, on_fault="continue")
    assert d.findings == [], _symptoms(d)
    assert d.verdict == Verdict.HEALTHY


@pytest.mark.parametrize("how", ["sum", "none_then_sum", "accumulation_of_4", "sum_per_sample"])
def test_a_loss_summed_over_the_batch_or_divided_for_accumulation_is_read_in_its_own_units(how: str) -> None:
    """The chance level and the expected first loss scale with the trained loss: a healthy classifier
    whose loss is summed over its batch of 32 (or divided by 4 for accumulation) is no poor init."""
    torch.manual_seed(0)
    x = torch.randn(256, 20)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 3))
    lr = 0.05 / 32 if how in ("sum", "none_then_sum") else 0.05  # a loss summed over 32 samples: lr / 32
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    with dl.watch(model, store=False) as run:
        for i in range(150):
            xb, yb = x[(i % 8) * 32:(i % 8) * 32 + 32], y[(i % 8) * 32:(i % 8) * 32 + 32]
            opt.zero_grad()
            if how == "sum":
                loss = F.cross_entropy(model(xb), yb, reduction="sum")
            elif how == "none_then_sum":
                loss = nn.CrossEntropyLoss(reduction="none")(model(xb), yb).sum()
            elif how == "sum_per_sample":  # a VAE's way: summed over each sample's 3 outputs, batch mean
                target = F.one_hot(yb, 3).float()
                loss = F.binary_cross_entropy_with_logits(model(xb), target, reduction="sum") / len(xb)
            else:
                loss = F.cross_entropy(model(xb), yb) / 4
            loss.backward()
            opt.step()
    # 150 steps end while the loss still falls: at most the warning that says so (unconverged_at_end)
    others = [f for f in run.diagnosis.findings if f.evidence.get("rule") != "still_falling"]
    assert run.diagnosis.verdict == Verdict.HEALTHY and others == []
    expected = {"accumulation_of_4": 0.25, "sum_per_sample": 3.0}.get(how, 32.0)
    assert run.monitor.model.extra["loss_scale"] == pytest.approx(expected, rel=1e-3)


def test_layers_no_gradient_reaches_are_named_from_the_first_one() -> None:
    """A re-entrant activation checkpoint whose input does not require grad (the input layer frozen)
    passes no gradient to the layers inside: they are named, from the first in forward order."""
    from torch.utils.checkpoint import checkpoint

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(16, 32)
            self.block = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
            self.head = nn.Linear(32, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = checkpoint(self.block, self.embed(x), use_reentrant=True)
            return self.head(h)

    torch.manual_seed(0)
    model = Net()
    model.embed.requires_grad_(False)
    x, y = torch.randn(512, 16), torch.randint(0, 3, (512,))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that no input requires grad: the bug itself
        d = _diagnose(model, x, y, steps=120, lr=0.05)
    assert d.verdict == Verdict.FAULTY
    first = d.findings[0]
    assert first.symptom == Symptom.UNCHANGED_WEIGHTS and first.layer.name == "block.0"
    assert first.evidence["layers"] == ["block.0", "block.2"]
    assert "use_reentrant=False" in d.root_causes[0].fix


class _Experts(nn.Module):
    """Three experts; after ``collapse_at`` forward calls every input goes to expert 0 (a router that
    collapsed), before it each sample goes to expert ``i % 3``."""

    def __init__(self, collapse_at: int) -> None:
        super().__init__()
        self.experts = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])
        self.collapse_at, self.calls = collapse_at, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        route = (torch.zeros(len(x), dtype=torch.long) if self.calls > self.collapse_at
                 else torch.arange(len(x)) % 3)
        out = torch.zeros_like(x)
        for i, expert in enumerate(self.experts):
            chosen = route == i
            if chosen.any():
                out[chosen] = expert(x[chosen])
        return x + out


def test_layers_the_forward_stopped_running_are_told_apart_from_a_cut_gradient_path() -> None:
    """Experts a collapsed router sends nothing to get no gradient because they no longer run: the fix is to
    use them (a load-balancing loss), not to reconnect a detached path."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), _Experts(collapse_at=30), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(512, 6), torch.randint(0, 3, (512,))
    d = _diagnose(model, x, y, steps=200, lr=0.05)
    found = [f for f in d.findings if f.symptom == Symptom.UNCHANGED_WEIGHTS]
    assert found and found[0].layer.name == "1.experts.1" and found[0].evidence["not_called"]
    assert "load-balancing" in d.root_causes[0].fix


@pytest.mark.parametrize("teacher_in_optimizer", [False, True])
def test_a_teacher_run_without_gradients_is_a_fixed_part_unless_the_optimizer_holds_it(
        teacher_in_optimizer: bool) -> None:
    """Distillation with the teacher inside the watched module: run under ``torch.no_grad()`` and left out of
    the optimizer, it is fixed on purpose (a warning); an optimizer that holds its parameters means it was
    meant to learn, and the no_grad cut it from the loss (a fault)."""

    class Distiller(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.teacher = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
            self.student = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.no_grad():
                soft = self.teacher(x)
            return self.student(x), soft

    torch.manual_seed(0)
    model = Distiller()
    x = torch.randn(512, 8)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    params = model.parameters() if teacher_in_optimizer else model.student.parameters()
    opt = torch.optim.Adam(params, lr=1e-2)
    with dl.watch(model, opt, on_fault="continue", store=False) as run:
        for step in range(160):
            i = (step * 32) % len(x)
            out, soft = model(x[i:i + 32])
            loss = F.cross_entropy(out, y[i:i + 32]) + F.kl_div(
                F.log_softmax(out, -1), F.softmax(soft, -1), reduction="batchmean")
            opt.zero_grad()
            loss.backward()
            opt.step()
    d = run.diagnosis
    assert d is not None and d.tool_errors == []
    (found,) = [f for f in d.findings if f.symptom == Symptom.UNCHANGED_WEIGHTS]
    assert found.layer.name == "teacher.0" and found.evidence["layers"] == ["teacher.0", "teacher.2"]
    if teacher_in_optimizer:
        assert d.verdict == Verdict.FAULTY and found.severity == "fault"
        assert "fixed_part" not in found.evidence
    else:
        assert d.verdict != Verdict.FAULTY and found.severity == "warning" and found.evidence["fixed_part"]


@pytest.mark.parametrize("first", ["embedding", "linear"])
def test_an_embedding_table_cut_from_the_loss_is_fixed_word_vectors_a_linear_layer_is_a_fault(
        first: str) -> None:
    """Pretrained word vectors kept fixed the older way, by detaching the lookup's output while the
    optimizer holds every parameter (pytorch/examples' SNLI ``fix_emb``): a warning. The same cut after a
    linear layer is a path to the loss broken by mistake: a fault."""

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(40, 16) if first == "embedding" else nn.Linear(40, 16)
            self.head = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 3))

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            vectors = self.embed(tokens).mean(1) if first == "embedding" else self.embed(
                F.one_hot(tokens, 40).float().mean(1))
            return self.head(vectors.detach())

    torch.manual_seed(0)
    tokens = torch.randint(0, 40, (512, 6))
    y = (tokens < 13).sum(1).clamp(max=2)  # how many of the first 13 words appear (0, 1, 2+)
    d = _diagnose(Classifier(), tokens, y, steps=160, lr=0.05, on_fault="continue")
    (found,) = [f for f in d.findings if f.symptom == Symptom.UNCHANGED_WEIGHTS]
    assert found.layer.name == "embed"
    if first == "embedding":
        assert d.verdict != Verdict.FAULTY and found.severity == "warning" and found.evidence["fixed_part"]
        assert "word vectors" in found.message
    else:
        assert d.verdict == Verdict.FAULTY and found.severity == "fault"
        assert "fixed_part" not in found.evidence
