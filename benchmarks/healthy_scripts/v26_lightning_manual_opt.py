import hashlib
import math

import lightning as L
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
np.random.seed(0)
L.seed_everything(0, verbose=False)

K = 4
modes = torch.tensor(
    [[2 * math.cos(2 * math.pi * k / K), 2 * math.sin(2 * math.pi * k / K)] for k in range(K)]
)
g = torch.Generator().manual_seed(0)
data = modes[torch.randint(0, K, (4096,), generator=g)] + 0.1 * torch.randn(4096, 2, generator=g)


class GAN(L.LightningModule):
    def __init__(self, zdim=8):
        super().__init__()
        self.automatic_optimization = False
        self.zdim = zdim
        self.G = nn.Sequential(nn.Linear(zdim, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
        self.D = nn.Sequential(
            nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1)
        )

    def configure_optimizers(self):
        og = torch.optim.Adam(self.G.parameters(), lr=1e-3, betas=(0.5, 0.999))
        od = torch.optim.Adam(self.D.parameters(), lr=1e-3, betas=(0.5, 0.999))
        return [og, od]

    def training_step(self, batch, batch_idx):
        (real,) = batch
        og, od = self.optimizers()
        z = torch.randn(real.size(0), self.zdim, device=self.device)
        # discriminator step
        fake = self.G(z)
        d_real, d_fake = self.D(real), self.D(fake.detach())
        d_loss = F.binary_cross_entropy_with_logits(
            d_real, torch.ones_like(d_real)
        ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        od.zero_grad()
        self.manual_backward(d_loss)
        od.step()
        # generator step
        self.toggle_optimizer(og)
        d_fake = self.D(self.G(z))
        g_loss = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        og.zero_grad()
        self.manual_backward(g_loss)
        og.step()
        self.untoggle_optimizer(og)
        self.log_dict({"d_loss": d_loss, "g_loss": g_loss}, prog_bar=True)


model = GAN()
dl = DataLoader(TensorDataset(data), batch_size=128, shuffle=True, generator=torch.Generator().manual_seed(0))
trainer = L.Trainer(
    max_epochs=40,
    accelerator="cpu",
    logger=False,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    deterministic=True,
)
trainer.fit(model, dl)
with torch.no_grad():
    s = model.G(torch.randn(2000, 8, generator=torch.Generator().manual_seed(1)))
d = torch.cdist(s, modes)
near = d.min(1).values
cover = [(d.argmin(1)[near < 0.5] == k).float().mean().item() for k in range(K)]
metrics = trainer.callback_metrics
print("d_loss {:.3f} g_loss {:.3f}".format(metrics["d_loss"], metrics["g_loss"]))
share = [round(c, 2) for c in cover]
print(f"final frac_within_0.5_of_a_mode {(near < 0.5).float().mean():.3f} mean_dist {near.mean():.3f}",
      f"mode_share {share}")
print(
    "hash",
    hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()[:16],
)
