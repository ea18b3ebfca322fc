# Per-pixel semantic segmentation: small conv net, (N,C,H,W) logits, cross_entropy against generated
# masks (background, circle, square) on noisy 32x32 images.

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)
rng = np.random.default_rng(0)

H = W = 32


def make(n):
    imgs = np.zeros((n, 1, H, W), np.float32)
    masks = np.zeros((n, H, W), np.int64)
    yy, xx = np.mgrid[0:H, 0:W]
    for i in range(n):
        cy, cx, r = rng.integers(8, 24), rng.integers(8, 24), rng.integers(4, 8)
        circ = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        sy, sx, s = rng.integers(0, 24), rng.integers(0, 24), rng.integers(4, 9)
        sq = np.zeros((H, W), bool)
        sq[sy : sy + s, sx : sx + s] = True
        masks[i][sq] = 2
        masks[i][circ] = 1
        imgs[i, 0][sq] = 0.5
        imgs[i, 0][circ] = 1.0
        # texture differences so the classes are distinguishable even in overlap
        imgs[i, 0] += rng.normal(0, 0.15, (H, W))
    return torch.tensor(imgs), torch.tensor(masks)


xtr, ytr = make(240)
xte, yte = make(100)


class SegNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=2, dilation=2), nn.ReLU(),
        )
        self.head = nn.Conv2d(16, 3, 1)

    def forward(self, x):
        return self.head(self.enc(x))


model = SegNet()
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
g = torch.Generator().manual_seed(0)
for epoch in range(6):
    perm = torch.randperm(len(xtr), generator=g)
    for i in range(0, len(xtr), 32):
        idx = perm[i : i + 32]
        logits = model(xtr[idx])  # (N, 3, H, W)
        loss = F.cross_entropy(logits, ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"epoch {epoch} loss {loss.item():.4f}")

model.eval()
with torch.no_grad():
    pred = model(xte).argmax(1)
pix = (pred == yte).float().mean().item()
ious = []
for c in range(3):
    inter = ((pred == c) & (yte == c)).sum().item()
    union = ((pred == c) | (yte == c)).sum().item()
    ious.append(inter / max(union, 1))
print(f"final pixel_acc {pix:.4f} mIoU {np.mean(ious):.4f}")
print("hash", whash(model))
