import hashlib
import random
import tempfile

import lightning as L
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import digits
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

torch.set_num_threads(1)
L.seed_everything(0)
torch.manual_seed(0)
np.random.seed(0)
random.seed(0)


class DigitClassifier(L.LightningModule):
    def __init__(self, lr=1e-2):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 10))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, _):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        logits = self(x)
        self.log("val_loss", F.cross_entropy(logits, y), prog_bar=True)
        self.log("val_acc", (logits.argmax(-1) == y).float().mean(), prog_bar=True)

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": "val_loss"}}


xtr, ytr, xte, yte = digits()
train_dl = DataLoader(
    TensorDataset(xtr, ytr), batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0)
)
val_dl = DataLoader(TensorDataset(xte, yte), batch_size=256)
model = DigitClassifier()
ckpt = ModelCheckpoint(dirpath=tempfile.mkdtemp(prefix="w2-"), monitor="val_loss", mode="min", save_top_k=1)
es = EarlyStopping(monitor="val_loss", patience=3, mode="min")
trainer = L.Trainer(
    max_epochs=60,
    callbacks=[es, ckpt],
    accelerator="cpu",
    devices=1,
    logger=False,
    enable_progress_bar=False,
    deterministic=True,
)
trainer.fit(model, train_dl, val_dl)
print("stopped at epoch", trainer.current_epoch, f"best val_loss {ckpt.best_model_score.item():.4f}")
best = DigitClassifier.load_from_checkpoint(ckpt.best_model_path)
best.eval()
with torch.no_grad():
    acc = (best(xte).argmax(-1) == yte).float().mean().item()
print(f"best-checkpoint test acc {acc:.4f}")
print(
    "hash",
    hashlib.sha256(
        b"".join(p.detach().numpy().tobytes() for p in list(model.parameters()) + list(best.parameters()))
    ).hexdigest()[:16],
)
