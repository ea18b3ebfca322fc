"""Lightning with ``strategy="ddp"`` on 2 CPU processes (Lightning launches the second itself) and the
callback. ``FAULT=nan``: rank 1's batch at step 50 gets a NaN, in place (a corrupt batch); ``FAULT=local``:
a fault only rank 1's monitor knows of, at step 30 (nothing reaches rank 0 through the all-reduce). Each rank
writes its diagnosis to ``$OUT_DIR/rank<r>.json``."""

import json
import os
from pathlib import Path

import lightning.pytorch as pl
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from deeplocalize.diagnosis import Finding
from deeplocalize.integrations.lightning import DeepLocalizeCallback
from deeplocalize.vocabulary import Phase, Severity, Symptom

FAULT = os.environ.get("FAULT", "")


class Module(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

    def training_step(self, batch: list, batch_idx: int) -> torch.Tensor:
        x, y = batch
        if FAULT == "nan" and self.global_rank == 1 and self.global_step == 50:
            x[0, 0] = float("nan")
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class LocalFault(pl.Callback):
    """Rank 1 alone confirms a fault at step 30: stopping it alone would leave rank 0 in an all-reduce."""

    def __init__(self, watcher: DeepLocalizeCallback) -> None:
        self.watcher = watcher

    def on_train_batch_start(self, trainer: pl.Trainer, *args: object) -> None:
        if FAULT == "local" and trainer.global_rank == 1 and trainer.global_step == 30:
            fault = Finding(Symptom.LOSS_NOT_DECREASING, Phase.METRIC, None, 30, "rank 1 alone has seen it",
                            severity=Severity.FAULT)
            self.watcher.monitor.add_finding(fault)


if __name__ == "__main__":
    torch.manual_seed(0)
    x = torch.randn(2048, 8)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    watcher = DeepLocalizeCallback(store=False)
    trainer = pl.Trainer(max_epochs=4, accelerator="cpu", devices=2, strategy="ddp", logger=False,
                         callbacks=[watcher, LocalFault(watcher)], enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False)
    trainer.fit(Module(), DataLoader(TensorDataset(x, y), batch_size=32))
    document = {"diagnosis": watcher.diagnosis.to_dict(), "steps": trainer.global_step}
    Path(os.environ["OUT_DIR"], f"rank{trainer.global_rank}.json").write_text(json.dumps(document))
