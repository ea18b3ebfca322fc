import sys

import torch
import torch.nn as nn

torch.manual_seed(0)
variant = sys.argv[1]

# synthetic regression: y = sin(x0) + 0.5*x1*x2 - x3^2 + noise
n = 4000
x = torch.randn(n, 6)
y = torch.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] - 0.3 * x[:, 3] ** 2 + 0.05 * torch.randn(n)
y = y.unsqueeze(1)
xtr, ytr, xte, yte = x[:3200], y[:3200], x[3200:], y[3200:]

model = nn.Sequential(
    nn.Linear(6, 64), nn.Tanh(),
    nn.Linear(64, 64), nn.Tanh(),
    nn.Linear(64, 1),
)
lr = 1e-6 if variant == "buggy" else 1e-2  # the bug
opt = torch.optim.Adam(model.parameters(), lr=lr)
loss_fn = nn.MSELoss()

for epoch in range(12):
    perm = torch.randperm(len(xtr))
    for i in range(0, len(xtr), 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = loss_fn(model(xtr[idx]), ytr[idx])
        loss.backward()
        opt.step()
    if epoch % 4 == 0:
        print(f"epoch {epoch} train loss {loss.item():.4f}")

with torch.no_grad():
    mse = loss_fn(model(xte), yte).item()
    r2 = 1 - mse / yte.var().item()
print(f"test mse {mse:.4f}  r2 {r2:.3f}")
