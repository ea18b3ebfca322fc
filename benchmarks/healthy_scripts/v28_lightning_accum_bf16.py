import hashlib

import lightning as L
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import digits
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
np.random.seed(0)
L.seed_everything(0, verbose=False)
xtr, ytr, xte, yte = digits()
EPOCHS, BS, ACC = 12, 16, 4


class Net(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)
        )

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
        opt = torch.optim.AdamW(self.parameters(), lr=3e-3, weight_decay=1e-2)
        steps = self.trainer.estimated_stepping_batches
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


model = Net()
tr = DataLoader(
    TensorDataset(xtr, ytr), batch_size=BS, shuffle=True, generator=torch.Generator().manual_seed(0)
)
va = DataLoader(TensorDataset(xte, yte), batch_size=256)
trainer = L.Trainer(
    max_epochs=EPOCHS,
    accelerator="cpu",
    logger=False,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    accumulate_grad_batches=ACC,
    gradient_clip_val=1.0,
    precision="bf16-mixed",
    val_check_interval=0.5,
)
trainer.fit(model, tr, va)
print("optimizer steps", trainer.global_step, "of", trainer.estimated_stepping_batches)
model.eval()
with torch.no_grad():
    a = (model(xte).argmax(-1) == yte).float().mean().item()
print("final acc {:.4f} val_acc {:.4f}".format(a, trainer.callback_metrics["val_acc"]))
print(
    "hash",
    hashlib.sha256(b"".join(p.detach().float().numpy().tobytes() for p in model.parameters())).hexdigest()[
        :16
    ],
)
