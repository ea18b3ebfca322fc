import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
n, d = 8000, 16
x = torch.randn(n, d)
s = x[:, 0] * 2 + x[:, 1]
y = (s > 3.0).float()  # ~2% positives
m = nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.Adam(m.parameters(), 1e-3)
pw = torch.tensor([(1 - y.mean()) / y.mean()])
for _ep in range(8):
    perm = torch.randperm(n)
    for i in range(0, n, 128):
        j = perm[i : i + 128]
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(m(x[j]).squeeze(1), y[j], pos_weight=pw).backward()
        opt.step()
print("pos", y.mean().item())
