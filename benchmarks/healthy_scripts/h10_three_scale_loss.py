# One network, three loss terms on very different scales summed with fixed weights:
# regression of a large-magnitude target (MSE ~1e4 at start), a classification CE (~2), and an
# L2 activity penalty (~1e-4); the regression term is down-weighted by 1e-2. Data generated from digits features.

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import digits
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)
xtr, ytr, xte, yte = digits()
# a big-scale regression target: "ink amount" in raw pixel units times 10 (values ~ 300..900)
rtr, rte = xtr.sum(1) * 16 * 10 / 16, xte.sum(1) * 16 * 10 / 16


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
        self.cls = nn.Linear(128, 10)
        self.reg = nn.Linear(128, 1)

    def forward(self, x):
        h = self.body(x)
        return self.cls(h), self.reg(h).squeeze(-1), h


model = Net()
with torch.no_grad():
    model.reg.bias.fill_(rtr.mean().item())  # start the regression head at the target mean
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
g = torch.Generator().manual_seed(1)
for epoch in range(30):
    perm = torch.randperm(len(xtr), generator=g)
    for i in range(0, len(xtr), 64):
        idx = perm[i : i + 64]
        logits, r, h = model(xtr[idx])
        l_reg = F.mse_loss(r, rtr[idx])
        l_ce = F.cross_entropy(logits, ytr[idx])
        l_l2 = 1e-5 * h.pow(2).mean()
        loss = 1e-2 * l_reg + l_ce + l_l2
        opt.zero_grad()
        loss.backward()
        opt.step()
    if epoch % 5 == 0:
        print(f"epoch {epoch} total {loss.item():.3f} reg {l_reg.item():.3f} ce {l_ce.item():.4f} l2 {l_l2.item():.2e}")

model.eval()
with torch.no_grad():
    logits, r, _ = model(xte)
test_acc = (logits.argmax(-1) == yte).float().mean().item()
rel_err = ((r - rte).abs() / rte).mean().item()
print(f"final test_acc {test_acc:.4f} reg_rel_err {rel_err:.4f} target_mean {rte.mean().item():.1f}")
print("hash", whash(model))
