import copy

import torch
import torch.nn.functional as F
from common import acc, batches, data, net

x, y = data()
m = net()
ema = copy.deepcopy(m)
for p in ema.parameters():
    p.requires_grad_(False)
opt = torch.optim.Adam(m.parameters(), 1e-3)
for _ep in range(5):
    for xb, yb in batches(x, y):
        opt.zero_grad()
        F.cross_entropy(m(xb), yb).backward()
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), m.parameters(), strict=True):
                pe.mul_(0.99).add_(pm, alpha=0.01)
        with torch.no_grad():
            _ = ema(xb)
print("acc", acc(m, x, y), acc(ema, x, y))
