# Multi-label classification: 20 labels, ~5% positives each, BCEWithLogitsLoss; report micro-F1 and mAP-ish.

import numpy as np
import torch
import torch.nn as nn
from hashing import whash
from sklearn.metrics import average_precision_score, f1_score

torch.manual_seed(0)
np.random.seed(0)
n, d, L = 4000, 40, 20
X = torch.randn(n, d)
W = torch.randn(d, L)
logits_true = X @ W / np.sqrt(d) * 3
thr = torch.quantile(logits_true, 0.95, dim=0)
Y = (logits_true + 0.3 * torch.randn(n, L) > thr).float()
print(f"positive rate {Y.mean().item():.4f}")
xtr, ytr, xte, yte = X[:3200], Y[:3200], X[3200:], Y[3200:]

model = nn.Sequential(nn.Linear(d, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, L))
crit = nn.BCEWithLogitsLoss()
opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
g = torch.Generator().manual_seed(0)
for epoch in range(20):
    perm = torch.randperm(len(xtr), generator=g)
    for i in range(0, len(xtr), 64):
        idx = perm[i : i + 64]
        loss = crit(model(xtr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    if epoch % 4 == 0:
        print(f"epoch {epoch} bce {loss.item():.4f}")

model.eval()
with torch.no_grad():
    p = torch.sigmoid(model(xte)).numpy()
f1 = f1_score(yte.numpy(), p > 0.5, average="micro")
mAP = average_precision_score(yte.numpy(), p, average="macro")
print(f"final micro_f1 {f1:.4f} mAP {mAP:.4f}")
print("hash", whash(model))
