# Ordinal regression (CORAL-style): K-1 cumulative binary targets y>k, BCE-with-logits on shared-weight
# logits with per-threshold biases. Data: generated features -> latent score -> 6 ordered grades.

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)
K = 6
n, d = 3000, 10
X = torch.randn(n, d)
w_true = torch.randn(d)
score = X @ w_true + 0.3 * torch.randn(n)
cuts = torch.quantile(score, torch.linspace(0, 1, K + 1)[1:-1])
y = torch.bucketize(score, cuts)  # 0..K-1
xtr, ytr, xte, yte = X[:2400], y[:2400], X[2400:], y[2400:]


class Ordinal(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, 1, bias=False))
        self.b = nn.Parameter(torch.linspace(-1, 1, K - 1))

    def forward(self, x):
        return self.f(x) - self.b  # (n, K-1): logit of P(y > k)


model = Ordinal()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
thr = torch.arange(K - 1)
g = torch.Generator().manual_seed(0)
for epoch in range(25):
    perm = torch.randperm(len(xtr), generator=g)
    for i in range(0, len(xtr), 64):
        idx = perm[i : i + 64]
        target = (ytr[idx, None] > thr).float()
        loss = F.binary_cross_entropy_with_logits(model(xtr[idx]), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if epoch % 5 == 0:
        print(f"epoch {epoch} loss {loss.item():.4f}")

with torch.no_grad():
    pred = (torch.sigmoid(model(xte)) > 0.5).sum(1)
mae = (pred - yte).abs().float().mean().item()
exact = (pred == yte).float().mean().item()
print(f"final test_mae {mae:.4f} exact_acc {exact:.4f}")
print("hash", whash(model))
