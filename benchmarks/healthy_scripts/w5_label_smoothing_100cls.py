import hashlib
import math
import random

import numpy as np
import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.manual_seed(0)
np.random.seed(0)
random.seed(0)
K, D, EPS = 100, 32, 0.1
centers = np.random.randn(K, D).astype(np.float32) * 2.0


def sample(n):
    y = np.random.randint(0, K, size=n)
    x = centers[y] + np.random.randn(n, D).astype(np.float32) * 0.7
    return torch.tensor(x), torch.tensor(y)


xtr, ytr = sample(10000)
xte, yte = sample(2000)

model = nn.Sequential(nn.Linear(D, 256), nn.GELU(), nn.Linear(256, 256), nn.GELU(), nn.Linear(256, K))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
crit = nn.CrossEntropyLoss(label_smoothing=EPS)
for ep in range(30):
    perm = torch.randperm(len(xtr))
    tot = 0.0
    for i in range(0, len(xtr), 128):
        idx = perm[i : i + 128]
        loss = crit(model(xtr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        tot += loss.item() * len(idx)
    if ep % 5 == 4 or ep == 0:
        print(f"epoch {ep} train loss {tot / len(xtr):.4f}")
# minimum achievable smoothed CE = entropy of the smoothed target distribution
q_true, q_other = 1 - EPS + EPS / K, EPS / K
floor = -(q_true * math.log(q_true) + (K - 1) * q_other * math.log(q_other))
model.eval()
with torch.no_grad():
    acc = (model(xte).argmax(-1) == yte).float().mean().item()
print(f"smoothing floor {floor:.4f}; final train loss {tot / len(xtr):.4f}; test acc {acc:.4f}")
print(
    "hash",
    hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()[:16],
)
