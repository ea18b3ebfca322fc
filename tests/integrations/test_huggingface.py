"""Hugging Face: a tiny model trained through ``transformers.Trainer`` with the callback, healthy and NaN."""

from __future__ import annotations

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
