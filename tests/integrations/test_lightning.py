"""Lightning: a tiny model trained through ``lightning.Trainer`` with the callback, healthy and NaN runs."""

from __future__ import annotations

from pathlib import Path

import pytest

pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")

from _tiny import NaNNet, TinyNet, data  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from deeplocalize.integrations.lightning import DeepLocalizeCallback  # noqa: E402
from deeplocalize.vocabulary import Phase, Symptom, Verdict  # noqa: E402


class Module(pl.LightningModule):
    def __init__(self, lr: float, nan: bool = False) -> None:
        super().__init__()
        self.net = NaNNet() if nan else TinyNet()
        self.lr = lr
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def training_step(self, batch: tuple, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return self.loss_fn(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def _fit(tmp_path: Path, nan: bool = False, steps: int = 80,
         **options: object) -> tuple[DeepLocalizeCallback, pl.Trainer]:
    pl.seed_everything(0, verbose=False)
    x, y = data()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    callback = DeepLocalizeCallback(store=False, **options)
    trainer = pl.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[callback], default_root_dir=tmp_path)
    trainer.fit(Module(0.1, nan), loader)
    return callback, trainer


def test_healthy_run(tmp_path: Path) -> None:
    callback, _ = _fit(tmp_path)
    diagnosis = callback.diagnosis
    assert diagnosis is not None and diagnosis.tool_errors == []
    assert diagnosis.verdict == Verdict.HEALTHY, diagnosis.findings
    assert diagnosis.steps_observed == 80 and not diagnosis.stopped_early
    assert [layer.name for layer in diagnosis.layers] == ["net.fc1", "net.relu", "net.fc2"]


def test_nan_run_stops_with_numerical_error(tmp_path: Path) -> None:
    callback, trainer = _fit(tmp_path, nan=True, steps=200, html=tmp_path / "report.html")
    diagnosis = callback.diagnosis
    assert diagnosis is not None and diagnosis.verdict == Verdict.FAULTY
    first = diagnosis.findings[0]
    assert (first.symptom, first.phase, first.step) == (Symptom.NUMERICAL_ERROR, Phase.FORWARD, 1)
    assert first.layer is not None and first.layer.name == "net.relu"  # the Log module, where NaN is born
    assert diagnosis.stopped_early and trainer.global_step < 5  # trainer.should_stop took effect
    assert "numerical_error" in (tmp_path / "report.html").read_text(encoding="utf-8")
