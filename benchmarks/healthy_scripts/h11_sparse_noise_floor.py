# Sparse-target regression: 90% of targets are exactly 0 ("no reward"), the rest are a linear function
# of features plus noise. Converges in ~50 steps, then keeps training 3000 more steps at the noise floor.

import numpy as np
import torch
import torch.nn as nn
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)
n, d = 5000, 8
active = (torch.rand(n) < 0.1).float()  # ~10% of samples have an event/reward
X = torch.randn(n, d) * active[:, None]  # inactive samples have all-zero features
w = torch.randn(d)
y = active * (X @ w + 0.2 * torch.randn(n))
xtr, ytr, xte, yte = X[:4000], y[:4000], X[4000:], y[4000:]

model = nn.Linear(d, 1)
opt = torch.optim.Adam(model.parameters(), lr=5e-2)
g = torch.Generator().manual_seed(0)
for step in range(3050):
    idx = torch.randint(0, len(xtr), (128,), generator=g)
    loss = ((model(xtr[idx]).squeeze(-1) - ytr[idx]) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step in (0, 10, 25, 50, 100) or step % 500 == 0:
        print(f"step {step} mse {loss.item():.5f}")

with torch.no_grad():
    mse = ((model(xte).squeeze(-1) - yte) ** 2).mean().item()
noise_floor = (0.2 ** 2) * active[4000:].mean().item()
print(f"final test_mse {mse:.5f} var(y) {yte.var().item():.4f} noise_floor {noise_floor:.5f}")
print("hash", whash(model))
