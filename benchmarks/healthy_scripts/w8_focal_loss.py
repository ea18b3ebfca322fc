import hashlib
import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

torch.set_num_threads(1)
torch.manual_seed(0)
np.random.seed(0)
random.seed(0)
D = 20


def make(n, rng):
    y = (rng.rand(n) < 0.03).astype(np.float32)  # ~3% positives
    x = rng.randn(n, D).astype(np.float32)
    x[y == 1, :5] += 1.5  # positives shifted in 5 dims
    x[:, 5] += 0.5 * x[:, 0] * x[:, 1]  # a nuisance interaction
    return torch.tensor(x), torch.tensor(y)


rng = np.random.RandomState(0)
xtr, ytr = make(20000, rng)
xte, yte = make(5000, rng)
print(f"train positives {ytr.mean().item():.4f}")


def focal_loss(logits, targets, alpha=0.25, gamma=2.0):
    # binary focal loss (Lin et al. 2017) written from logits for numerical stability
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * (1 - p_t) ** gamma * ce).mean()


model = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
with torch.no_grad():  # prior-probability bias init (pi=0.03)
    model[-1].bias.fill_(-np.log((1 - 0.03) / 0.03))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for ep in range(15):
    perm = torch.randperm(len(xtr))
    tot = 0.0
    for i in range(0, len(xtr), 256):
        idx = perm[i : i + 256]
        loss = focal_loss(model(xtr[idx]).squeeze(-1), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        tot += loss.item() * len(idx)
    if ep % 3 == 2:
        print(f"epoch {ep} focal loss {tot / len(xtr):.5f}")
model.eval()
with torch.no_grad():
    s = torch.sigmoid(model(xte).squeeze(-1)).numpy()
yt = yte.numpy()
pred = s >= 0.3
rec = (pred & (yt == 1)).sum() / (yt == 1).sum()
prec = (pred & (yt == 1)).sum() / max(1, pred.sum())
print(f"test AP {average_precision_score(yt, s):.4f} (prevalence {yt.mean():.4f});",
      f"at thr 0.3 recall {rec:.4f} precision {prec:.4f}")
print(
    "hash",
    hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()[:16],
)
