import math
import sys

import torch
import torch.nn as nn

torch.manual_seed(0)
variant = sys.argv[1]

# Friedman #1-style regression on 5 inputs in [0, 1]
n = 3000
x = torch.rand(n, 5)
y = 10 * torch.sin(math.pi * x[:, 0] * x[:, 1]) + 20 * (x[:, 2] - 0.5) ** 2 + 10 * x[:, 3] + 5 * x[:, 4]
y = ((y - y.mean()) / y.std()).unsqueeze(1)
xtr, ytr, xte, yte = x[:2400], y[:2400], x[2400:], y[2400:]


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 32), nn.ReLU())
        self.head = nn.Linear(32, 1)

    def forward(self, x):
        return self.head(self.body(x))


model = Model()
if variant == "buggy":
    params = model.head.parameters()  # the bug
else:
    params = model.parameters()
opt = torch.optim.Adam(params, lr=5e-3)
loss_fn = nn.MSELoss()
for epoch in range(15):
    perm = torch.randperm(len(xtr))
    for i in range(0, len(xtr), 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = loss_fn(model(xtr[idx]), ytr[idx])
        loss.backward()
        opt.step()
with torch.no_grad():
    mse = loss_fn(model(xte), yte).item()
print(f"test mse {mse:.4f}  r2 {1 - mse / yte.var().item():.3f}")
