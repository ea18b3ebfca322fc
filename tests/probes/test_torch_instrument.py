"""Global instrumentation (``deeplocalize run``): scripts that never mention deeplocalize."""

from __future__ import annotations

import contextlib

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402, N812
from torch import nn  # noqa: E402

from deeplocalize.config import Config  # noqa: E402
from deeplocalize.errors import StopTraining  # noqa: E402
from deeplocalize.monitor import Monitor  # noqa: E402
from deeplocalize.probes.torch import instrument  # noqa: E402
from deeplocalize.vocabulary import Channel  # noqa: E402


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Linear(6, 12), nn.Tanh())
        self.scale = nn.Parameter(torch.ones(1))  # owned by the root: not attributed to a layer
        self.fc2 = nn.Linear(12, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.features(x) * self.scale)


def _script(steps: int, criterion: nn.Module | None = None) -> None:
    """What a user's training script does, with no mention of deeplocalize."""
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.randn(32, 6)
    y = (x[:, 0] > 0).long()
    for _ in range(steps):
        opt.zero_grad()
        out = model(x)
        loss = criterion(out, y) if criterion is not None else F.cross_entropy(out, y)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        model(x)


def test_instrument_sees_layers_loss_optimizer_of_an_unmodified_loop() -> None:
    monitor = Monitor("torch", config=Config(stats_every=1))  # full statistics on the last step too
    with instrument(monitor):
        _script(4)
    info = monitor.model
    assert [(lay.index, lay.name, lay.activation) for lay in info.layers] == [
        (0, "features.0", "linear"), (1, "features.1", "tanh"), (2, "fc2", "linear")]
    assert info.loss.name == "cross_entropy" and info.optimizer.name == "adam"
    trace = monitor.trace
    assert trace.steps_observed == 4 and all(r.loss is not None for r in trace.records())
    assert trace.last_record.stats[(1, Channel.OUTPUT)][9] >= 0  # sat_frac measured on tanh
    assert monitor.tool_errors == []


def test_instrument_loss_module_is_not_a_layer_and_max_steps_stops() -> None:
    monitor = Monitor("torch")
    with pytest.raises(StopTraining), instrument(monitor, max_steps=2):
        _script(10, criterion=nn.CrossEntropyLoss())
    assert monitor.trace.steps_observed == 2 and monitor.stopped_early
    assert monitor.model.loss.framework_name == "CrossEntropyLoss"
    assert "CrossEntropyLoss" not in [lay.type for lay in monitor.model.layers]
    assert F.cross_entropy.__module__ == "torch.nn.functional"


def _swap_script(replace_after_optimizer: bool) -> None:
    """A layer replaced by a new module (old resize code): after the optimizer was built, the optimizer
    keeps the old layer's parameters, first among its own, and the new layer is never updated."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(20, 16), nn.ReLU(), nn.Linear(16, 20))
    if not replace_after_optimizer:
        model[0] = nn.Embedding(20, 16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    if replace_after_optimizer:
        model[0] = nn.Embedding(20, 16)
    for _ in range(300):
        x = torch.randint(0, 20, (32,))
        opt.zero_grad()
        F.cross_entropy(model(x), (x + 1) % 20).backward()
        opt.step()


@pytest.mark.parametrize("after", [True, False])
def test_a_layer_replaced_after_the_optimizer_was_built_is_found_left_out_of_it(after: bool) -> None:
    """The optimizer is matched to its model by any of its parameters, not only its first (once a stale
    one: every step unwatched, "1 step observed")."""
    monitor = Monitor("torch")
    with instrument(monitor), contextlib.suppress(StopTraining):  # the fault stops the run (default)
        _swap_script(replace_after_optimizer=after)
    assert monitor.tool_errors == []
    assert monitor.trace.steps_observed >= 60
    faults = [f for f in monitor.findings if f.symptom == "unchanged_weights"]
    if after:
        assert faults and faults[0].layer is not None and faults[0].layer.name == "0"
    else:
        assert not faults and monitor.trace.steps_observed == 300


def _pretrain_then_finetune() -> float:
    """An autoencoder trained first, then a classifier built on its encoder with a new optimizer; the
    classifier's held-out accuracy."""
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x[:, 0] + x[:, 1] > 0).long()
    encoder = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
    autoencoder = nn.Sequential(encoder, nn.Linear(16, 8))
    opt = torch.optim.Adam(autoencoder.parameters(), lr=1e-2)
    for _ in range(100):
        opt.zero_grad()
        F.mse_loss(autoencoder(x), x).backward()
        opt.step()
    classifier = nn.Sequential(encoder, nn.Linear(16, 2))
    opt = torch.optim.Adam(classifier.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        F.cross_entropy(classifier(x), y).backward()
        opt.step()
    return float((classifier(x).argmax(-1) == y).float().mean())


def test_a_model_built_on_part_of_a_watched_one_is_a_model_of_its_own() -> None:
    """The fine-tuning optimizer holds the pretrained encoder's parameters and the new head's: it trains the
    classifier, not the autoencoder (whose decoder it leaves alone: once "unchanged weights", a false alarm
    that stopped the run)."""
    plain = _pretrain_then_finetune()
    monitor = Monitor("torch")
    with instrument(monitor):
        watched = _pretrain_then_finetune()
    assert watched == plain > 0.9
    assert monitor.tool_errors == []
    models = [monitor, *monitor.siblings]
    assert [m.trace.steps_observed for m in models] == [100, 150]
    assert [len(m.model.layers) for m in models] == [3, 3]
    assert monitor.finish(completed=True).verdict == "healthy"


def _recreated_after_optimizer(idle_steps: int) -> int:
    """The optimizer is built on a first copy of the model, the loop trains a second (made again after it):
    ``optimizer.step()`` never changes the trained model. ``idle_steps`` > 0: the right model, whose
    optimizer first steps that many times with no gradient (nothing trained yet), then trains it."""
    torch.manual_seed(0)
    x = torch.randn(64, 6)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    if not idle_steps:
        model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 2))  # the bug
    for _ in range(idle_steps):
        opt.step()
    for i in range(120):
        batch = slice(i % 4 * 16, i % 4 * 16 + 16)
        opt.zero_grad()
        F.cross_entropy(model(x[batch]), y[batch]).backward()
        opt.step()
    return len(nn.modules.module._global_forward_pre_hooks)  # the model search's hook, if still armed


@pytest.mark.parametrize("idle_steps", [0, 5])
def test_an_optimizer_built_on_another_copy_of_the_model_is_found(idle_steps: int) -> None:
    """Once every step went unwatched (the optimizer holds no watched model's parameters): "inconclusive"."""
    monitor = Monitor("torch", on_fault="continue")
    with instrument(monitor):
        armed_at_end = _recreated_after_optimizer(idle_steps)
    assert monitor.tool_errors == [] and armed_at_end == 0  # no global hook left on every later forward
    faults = [f for f in monitor.findings if f.symptom == "unchanged_weights"]
    if idle_steps:
        assert not faults and monitor.trace.steps_observed == 120
        assert not monitor.model.extra.get("stale_optimizer")
    else:
        assert faults and monitor.model.extra.get("stale_optimizer")
        assert "another copy of the model" in monitor.diagnosis().root_causes[0].fix
