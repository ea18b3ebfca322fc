"""A Hugging Face ``Trainer`` on 2 CPU processes, launched by ``accelerate launch`` (or ``torchrun``), with
the callback and a run store (``$OUT_DIR/store``). ``FAULT=nan``: rank 1's batch at step 50 gets a NaN (a
corrupt batch). Each rank writes its diagnosis to ``$OUT_DIR/rank<r>.json``."""

import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
import transformers
from torch import nn

from deeplocalize.integrations.huggingface import DeepLocalizeCallback

FAULT = os.environ.get("FAULT", "")
OUT = Path(os.environ["OUT_DIR"])


class Classifier(nn.Module):
    """The HF convention: ``forward(x, labels)`` returns a dict with the loss."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        logits = self.net(x)
        return {"logits": logits, "loss": F.cross_entropy(logits, labels)}


class Collate:
    """The default collation; on rank 1 the 50th batch gets a NaN (a corrupt batch)."""

    def __init__(self) -> None:
        self.batches = 0

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        self.batches += 1
        batch = transformers.default_data_collator(rows)
        if FAULT == "nan" and int(os.environ["RANK"]) == 1 and self.batches == 50:
            batch["x"][0, 0] = float("nan")
        return batch


if __name__ == "__main__":
    transformers.set_seed(0)
    x = torch.randn(2048, 8)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    dataset = [{"x": x[i], "labels": y[i]} for i in range(len(x))]
    args = transformers.TrainingArguments(
        output_dir=str(OUT / "out"), num_train_epochs=3, per_device_train_batch_size=16, learning_rate=0.05,
        report_to=[], use_cpu=True, save_strategy="no", logging_strategy="no", disable_tqdm=True,
        dataloader_num_workers=0, seed=0, ddp_backend="gloo")
    watcher = DeepLocalizeCallback(store=OUT / "store")
    trainer = transformers.Trainer(model=Classifier(), args=args, train_dataset=dataset, callbacks=[watcher],
                                   data_collator=Collate())
    trainer.train()
    document = {"diagnosis": watcher.diagnosis.to_dict(), "steps": trainer.state.global_step,
                "world_size": args.world_size}
    (OUT / f"rank{args.process_index}.json").write_text(json.dumps(document))
