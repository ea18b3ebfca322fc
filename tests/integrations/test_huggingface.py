"""Hugging Face: a tiny model trained through ``transformers.Trainer`` with the callback, healthy and NaN."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from _tiny import NaNNet, TinyNet, data  # noqa: E402
from torch import nn  # noqa: E402

from deeplocalize.integrations.huggingface import DeepLocalizeCallback  # noqa: E402
from deeplocalize.vocabulary import Phase, Symptom, Verdict  # noqa: E402


class Classifier(nn.Module):
    """The HF convention: ``forward(x, labels)`` returns a dict with the loss."""

    def __init__(self, nan: bool = False) -> None:
        super().__init__()
        self.net = NaNNet() if nan else TinyNet()

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        logits = self.net(x)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = nn.functional.cross_entropy(logits, labels)
        return out


def _train(tmp_path: Path, nan: bool = False, steps: int = 80) -> tuple[DeepLocalizeCallback, object]:
    transformers.set_seed(0)
    x, y = data()
    dataset = [{"x": x[i], "labels": y[i]} for i in range(len(x))]
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=steps, per_device_train_batch_size=16, learning_rate=0.05,
        report_to=[], use_cpu=True, save_strategy="no", logging_strategy="no", disable_tqdm=True,
        dataloader_num_workers=0, seed=0)
    callback = DeepLocalizeCallback(store=False)
    trainer = transformers.Trainer(model=Classifier(nan), args=args, train_dataset=dataset,
                                   callbacks=[callback])
    trainer.train()
    return callback, trainer


def test_healthy_run(tmp_path: Path) -> None:
    callback, _ = _train(tmp_path)
    diagnosis = callback.diagnosis
    assert diagnosis is not None and diagnosis.tool_errors == []
    assert diagnosis.verdict == Verdict.HEALTHY, diagnosis.findings
    assert diagnosis.steps_observed == 80 and not diagnosis.stopped_early
    assert [layer.name for layer in diagnosis.layers] == ["net.fc1", "net.relu", "net.fc2"]


def test_nan_run_stops_with_numerical_error(tmp_path: Path) -> None:
    callback, trainer = _train(tmp_path, nan=True, steps=200)
    diagnosis = callback.diagnosis
    assert diagnosis is not None and diagnosis.verdict == Verdict.FAULTY
    first = diagnosis.findings[0]
    assert (first.symptom, first.phase, first.step) == (Symptom.NUMERICAL_ERROR, Phase.FORWARD, 1)
    assert first.layer is not None and first.layer.name == "net.relu"  # the Log module, where NaN is born
    assert diagnosis.stopped_early and trainer.state.global_step < 5  # control.should_training_stop


DDP_SCRIPT = Path(__file__).parent / "scripts" / "hf_ddp.py"


def _accelerate(tmp_path: Path, fault: str) -> tuple[list[dict], list[dict]]:
    """``accelerate launch`` of ``scripts/hf_ddp.py`` on 2 CPU processes (accelerate's multi-process
    launcher is torchrun's; the Trainer sets up gloo): (each rank's document, the store's listed runs)."""
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    if launcher is None:
        pytest.skip("needs accelerate's launcher")
    cmd = [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", str(DDP_SCRIPT)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OUT_DIR": str(tmp_path), "FAULT": fault}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from deeplocalize.store import RunStore

    docs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    return docs, RunStore(tmp_path / "store").list_runs()


def test_an_accelerate_launched_trainer_is_one_job_healthy_on_both_ranks(tmp_path: Path) -> None:
    docs, runs = _accelerate(tmp_path, "")
    for doc in docs:
        assert doc["world_size"] == 2 and doc["diagnosis"]["verdict"] == "healthy"
        assert doc["diagnosis"]["tool_errors"] == [] and doc["steps"] == 192
    assert len(runs) == 1 and [r["steps"] for r in runs[0]["ranks"]] == [192, 192]


def test_an_accelerate_launched_trainer_stops_both_ranks_at_the_corrupt_batch_of_one(tmp_path: Path) -> None:
    """Rank 1's 50th batch holds a NaN: the Trainer's model runs inside DDP, so the ranks agree at that
    step, before its update; rank 1 is the origin (its data), rank 0 received it."""
    docs, runs = _accelerate(tmp_path, "nan")
    for doc in docs:
        diagnosis = doc["diagnosis"]
        assert diagnosis["verdict"] == "faulty" and diagnosis["stopped_early"] and doc["steps"] == 50
        first = diagnosis["findings"][0]
        assert (first["rank"], first["phase"], first["step"]) == (1, "data", 50)
        received = [f["rank"] for f in diagnosis["findings"]
                    if f["evidence"].get("received_from_ranks") == [1]]
        assert received == [0]
    assert len(runs) == 1 and runs[0]["verdict"] == "faulty"
