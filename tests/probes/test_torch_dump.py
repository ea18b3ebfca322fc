"""``watch(dump_dir=...)``: a corrupt batch gives a loss_spike finding at its step, led by a layer, and the
batch is saved and loads back; a NaN step is saved too; the dump never changes or breaks training."""

from __future__ import annotations

import os
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

CORRUPT_STEP = 300  # 0-based loop index: the 301st optimizer step


def train_with_a_corrupt_batch(model: nn.Module, steps: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    """SGD on separable blobs; the batch of ``CORRUPT_STEP`` is garbage (noise 20x the data's scale).
    Returns that batch."""
    x, y = tm.blobs(n=512)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(3)
    bad = (torch.empty(0), torch.empty(0))
    for step in range(steps):
        idx = torch.randint(0, len(x), (32,), generator=g)
        xb, yb = x[idx], y[idx]
        if step == CORRUPT_STEP:
            xb = torch.randn(xb.shape, generator=g) * 20.0
            bad = (xb, yb)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return bad


def test_a_corrupt_batch_is_a_loss_spike_at_its_step_and_its_batch_is_saved(tmp_path: Path) -> None:
    model = tm.mlp(dropout=False)
    with dl.watch(model, store=False, dump_dir=tmp_path) as run:
        xb, yb = train_with_a_corrupt_batch(model)
    assert run.diagnosis is not None and run.diagnosis.verdict == dl.Verdict.HEALTHY
    spikes = [f for f in run.diagnosis.findings if f.symptom == Symptom.LOSS_SPIKE]
    assert len(spikes) == 1
    spike = spikes[0]
    assert spike.step == CORRUPT_STEP + 1 and spike.layer is not None and spike.layer.name == "0"
    saved = dl.load_dump(spike.evidence["batch_dump"])
    assert saved["step"] == CORRUPT_STEP + 1 and saved["reason"] == "loss spike"
    assert torch.equal(saved["inputs"][0][0], xb) and torch.equal(saved["targets"][0], yb)
    assert str(spike.evidence["batch_dump"]) in spike.message
    assert [p.name for p in tmp_path.iterdir()] == [Path(spike.evidence["batch_dump"]).name]


def test_a_dump_names_the_dataset_indices_a_dataloader_drew_for_the_batch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x, y = tm.blobs(n=512)
    x[137] = float("nan")  # one corrupt sample: the step whose batch holds it is dumped
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True)
    model = tm.mlp(dropout=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with dl.watch(model, opt, store=False, dump_dir=tmp_path, on_fault="warn") as run:
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if not torch.isfinite(loss):
                break
    nan = next(f for f in run.diagnosis.findings if f.symptom == Symptom.NUMERICAL_ERROR)
    saved = dl.load_dump(nan.evidence["batch_dump"])
    assert 137 in saved["sample_indices"] and len(saved["sample_indices"]) == 32
    torch.testing.assert_close(saved["inputs"][0][0], x[saved["sample_indices"]], equal_nan=True)


def test_the_dump_changes_nothing_in_training(tmp_path: Path) -> None:
    plain = tm.mlp(dropout=False)
    train_with_a_corrupt_batch(plain, steps=320)
    watched = tm.mlp(dropout=False)
    with dl.watch(watched, store=False, dump_dir=tmp_path):
        train_with_a_corrupt_batch(watched, steps=320)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), watched.state_dict().values(),
                                                 strict=True))


def test_a_nan_step_is_saved_before_training_stops(tmp_path: Path) -> None:
    torch.manual_seed(0)
    bomb = tm.NanFrom()
    model = nn.Sequential(nn.Linear(8, 16), bomb, nn.ReLU(), nn.Linear(16, 3))
    x, y = tm.blobs()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with dl.watch(model, opt, store=False, dump_dir=tmp_path) as run:
        for step in range(10):
            bomb.armed = step == 4
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert run.stopped_early
    nan = next(f for f in run.diagnosis.findings if f.symptom == Symptom.NUMERICAL_ERROR)
    saved = dl.load_dump(nan.evidence["batch_dump"])
    assert saved["step"] == 5 and saved["reason"] == "non-finite values"
    assert torch.equal(saved["inputs"][0][0], x)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_dump_dir_is_a_tool_error_not_a_crash(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    model = tm.mlp(dropout=False)
    try:
        with dl.watch(model, store=False, dump_dir=tmp_path) as run:
            train_with_a_corrupt_batch(model)
    finally:
        tmp_path.chmod(0o700)
    assert run.diagnosis is not None and any("dump" in e for e in run.diagnosis.tool_errors)


def test_a_dump_dir_that_is_a_file_is_a_tool_error_not_a_crash(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    model = tm.mlp(dropout=False)
    with dl.watch(model, store=False, dump_dir=blocker) as run:
        train_with_a_corrupt_batch(model)
    assert run.diagnosis is not None and run.monitor.trace.steps_observed == 400
    assert any("dump" in e for e in run.diagnosis.tool_errors)
