import hashlib
import random

import numpy as np
import torch
import torch.nn as nn
from digits import digits

torch.set_num_threads(1)
torch.manual_seed(0)
np.random.seed(0)
random.seed(0)
xtr, ytr, xte, yte = digits()
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[20, 30], gamma=0.1)
crit = nn.CrossEntropyLoss()
g = torch.Generator().manual_seed(0)
for ep in range(36):
    perm = torch.randperm(len(xtr), generator=g)
    tot = 0.0
    for i in range(0, len(xtr), 32):
        idx = perm[i : i + 32]
        xb = xtr[idx] + 0.15 * torch.randn(len(idx), 64)  # input-noise augmentation
        loss = crit(model(xb), ytr[idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), 1.0)
        opt.step()
        tot += loss.item() * len(idx)
    print(f"epoch {ep} lr {sched.get_last_lr()[0]:.4g} train loss {tot / len(xtr):.4f}")
    sched.step()
model.eval()
with torch.no_grad():
    acc = (model(xte).argmax(-1) == yte).float().mean().item()
print(f"test acc {acc:.4f}")
print(
    "hash",
    hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()[:16],
)
