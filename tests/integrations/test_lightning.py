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


DDP_SCRIPT = Path(__file__).parent / "scripts" / "lightning_ddp.py"


def _ddp(tmp_path: Path, fault: str) -> list[dict]:
    """``scripts/lightning_ddp.py`` (Lightning's ``strategy="ddp"``, 2 CPU processes): each rank's JSON."""
    import json
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(DDP_SCRIPT)], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "OUT_DIR": str(tmp_path),
                               "FAULT": fault})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="needs torch.distributed with gloo")
def test_lightning_ddp_stops_every_rank_at_the_same_step_and_names_the_rank_of_origin(tmp_path: Path) -> None:
    """A corrupt batch on rank 1: found at its origin (rank 1, data, step 51; rank 0 received it through the
    all-reduce), every rank stopped at that step. A fault only rank 1 has seen: every rank stops at the next
    agreement (Lightning's own ``should_stop`` is per rank: a rank stopping alone would hang the other)."""
    for job in _ddp(tmp_path, "nan"):
        diagnosis = job["diagnosis"]
        assert diagnosis["verdict"] == "faulty" and diagnosis["stopped_early"] and job["steps"] == 51
        first = diagnosis["findings"][0]
        assert (first["rank"], first["phase"], first["step"]) == (1, "data", 51)
        assert any(f["evidence"].get("received_from_ranks") == [1] for f in diagnosis["findings"])
        assert diagnosis["tool_errors"] == []
    steps = [job["steps"] for job in _ddp(tmp_path, "local")]
    assert steps[0] == steps[1] == 40  # the agreement after rank 1's fault (rank_agree_every = 20)
