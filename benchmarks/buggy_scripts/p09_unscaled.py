import sys

import numpy as np
import torch
import torch.nn as nn

torch.manual_seed(0)
np.random.seed(0)
variant = sys.argv[1]

# house-price-like data: area (m^2), year built, distance to centre (m), rooms
n = 3000
area = np.random.uniform(30, 250, n)
year = np.random.uniform(1900, 2020, n)
dist = np.random.uniform(200, 20000, n)
rooms = np.random.randint(1, 7, n).astype(float)
price = 3.0 * area / 100 + 0.8 * (year - 1900) / 120 - 1.5 * dist / 20000 + 0.2 * rooms + 0.1 * np.random.randn(n)
X = np.stack([area, year, dist, rooms], 1).astype(np.float32)
y = price.astype(np.float32)[:, None]

if variant == "fixed":
    X = (X - X[:2400].mean(0)) / X[:2400].std(0)  # the bug (no scaling in buggy)

X, y = torch.tensor(X), torch.tensor(y)
Xtr, ytr, Xte, yte = X[:2400], y[:2400], X[2400:], y[2400:]

model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
loss_fn = nn.MSELoss()
for epoch in range(15):
    perm = torch.randperm(len(Xtr))
    for i in range(0, len(Xtr), 32):
        idx = perm[i:i + 32]
        opt.zero_grad()
        loss = loss_fn(model(Xtr[idx]), ytr[idx])
        loss.backward()
        opt.step()
    if epoch % 5 == 0:
        print(f"epoch {epoch} loss {loss.item():.4f}")
with torch.no_grad():
    mse = loss_fn(model(Xte), yte).item()
print(f"test mse {mse:.4f}  r2 {1 - mse / yte.var().item():.3f}")
