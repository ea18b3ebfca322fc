# a VAE with KL annealing: the weight of the KL term rises from 0 to 1, so the total loss rises at first
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import batches, digits

torch.manual_seed(0)
x, y, xt, yt = digits()


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
        self.mu = nn.Linear(128, 8)
        self.lv = nn.Linear(128, 8)
        self.dec = nn.Sequential(nn.Linear(8, 128), nn.ReLU(), nn.Linear(128, 64), nn.Sigmoid())

    def forward(self, v):
        h = self.enc(v)
        mu, lv = self.mu(h), self.lv(h)
        z = mu + torch.randn_like(mu) * (0.5 * lv).exp()
        return self.dec(z), mu, lv


vae = VAE()
opt = torch.optim.Adam(vae.parameters(), 1e-3)
for step, (_ep, xb, _yb) in enumerate(batches(x, y, epochs=20)):
    beta = min(1.0, step / 300)
    r, mu, lv = vae(xb)
    rec = F.binary_cross_entropy(r, xb, reduction="sum") / len(xb)
    kl = -0.5 * (1 + lv - mu**2 - lv.exp()).sum() / len(xb)
    loss = rec + beta * kl
    opt.zero_grad()
    loss.backward()
    opt.step()
with torch.no_grad():
    r, mu, lv = vae(xt)
    print("val rec", (F.binary_cross_entropy(r, xt, reduction="sum") / len(xt)).item())
