import hashlib
import random

import numpy as np
import torch
import torch.nn as nn
from digits import digits
from sklearn.metrics import roc_auc_score

torch.set_num_threads(1)
torch.manual_seed(0)
np.random.seed(0)
random.seed(0)
xtr, ytr, xte, yte = digits()
x0 = xtr[ytr == 0]  # train on the "normal" class only
print("normal training samples:", len(x0))
model = nn.Sequential(
    nn.Linear(64, 32),
    nn.ReLU(),
    nn.Linear(32, 8),
    nn.ReLU(),  # encoder, bottleneck 8
    nn.Linear(8, 32),
    nn.ReLU(),
    nn.Linear(32, 64),
    nn.Sigmoid(),
)  # decoder, pixels in [0,1]
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
crit = nn.MSELoss()
g = torch.Generator().manual_seed(0)
for ep in range(300):
    perm = torch.randperm(len(x0), generator=g)
    for i in range(0, len(x0), 32):
        xb = x0[perm[i : i + 32]]
        loss = crit(model(xb), xb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if ep % 50 == 49:
        with torch.no_grad():
            print(f"epoch {ep} train mse {crit(model(x0), x0).item():.5f}")
model.eval()
with torch.no_grad():
    err = ((model(xte) - xte) ** 2).mean(1).numpy()
is_anom = (yte != 0).numpy().astype(int)
print(f"test mse normal {err[is_anom == 0].mean():.4f} vs others {err[is_anom == 1].mean():.4f};",
      f"AUROC {roc_auc_score(is_anom, err):.4f}")
print(
    "hash",
    hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()[:16],
)
