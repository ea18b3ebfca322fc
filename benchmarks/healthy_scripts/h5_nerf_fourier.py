# NeRF-style coordinate MLP: Fourier positional encoding of (x, y) -> RGB, regressing a synthetic 64x64 image.
import math

import numpy as np
import torch
import torch.nn as nn
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)

S = 32
ys, xs = torch.meshgrid(torch.linspace(0, 1, S), torch.linspace(0, 1, S), indexing="ij")
coords = torch.stack([xs, ys], -1).reshape(-1, 2)
r = torch.sin(6 * math.pi * xs) * 0.5 + 0.5
g_ = ((xs - 0.5) ** 2 + (ys - 0.5) ** 2 < 0.1).float()
b = torch.cos(4 * math.pi * (xs + ys)) * 0.5 + 0.5
img = torch.stack([r, g_, b], -1).reshape(-1, 3)

L = 6


def encode(p):
    freqs = 2.0 ** torch.arange(L) * math.pi
    ang = p[..., None] * freqs  # (N, 2, L)
    return torch.cat([p, torch.sin(ang).flatten(1), torch.cos(ang).flatten(1)], -1)


model = nn.Sequential(
    nn.Linear(2 + 4 * L, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 3), nn.Sigmoid(),
)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
enc = encode(coords)
g = torch.Generator().manual_seed(0)
for step in range(500):
    idx = torch.randint(0, len(coords), (256,), generator=g)
    pred = model(enc[idx])
    loss = ((pred - img[idx]) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 100 == 0:
        print(f"step {step} mse {loss.item():.5f}")

with torch.no_grad():
    mse = ((model(enc) - img) ** 2).mean().item()
psnr = -10 * math.log10(mse)
print(f"final mse {mse:.5f} psnr {psnr:.2f}")
print("hash", whash(model))
