import hashlib

import lightning as L
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import digits
from lightning.pytorch.tuner import Tuner
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
np.random.seed(0)
L.seed_everything(0, verbose=False)
xtr, ytr, xte, yte = digits()


class Net(L.LightningModule):
    def __init__(self, lr=1e-3):
        super().__init__()
        self.save_hyperparameters()
        self.lr = lr
        self.net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, _):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_acc", (self(x).argmax(-1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)

    def train_dataloader(self):
        return DataLoader(
            TensorDataset(xtr, ytr), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0)
        )

    def val_dataloader(self):
        return DataLoader(TensorDataset(xte, yte), batch_size=256)


model = Net()
trainer = L.Trainer(
    max_epochs=8,
    accelerator="cpu",
    logger=False,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    deterministic=True,
)
lr_finder = Tuner(trainer).lr_find(model, min_lr=1e-5, max_lr=10.0, num_training=100)
sug = lr_finder.suggestion()
print("suggested lr", sug)
model.lr = sug
model.hparams.lr = sug
trainer.fit(model)
model.eval()
with torch.no_grad():
    a = (model(xte).argmax(-1) == yte).float().mean().item()
print("final acc {:.4f} val_acc {:.4f}".format(a, trainer.callback_metrics["val_acc"]))
print(
    "hash",
    hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()[:16],
)
