import sys

import torch
import torch.nn as nn

torch.manual_seed(0)
variant = sys.argv[1]

# synthetic tabular regression (5 features)
n = 3000
X = torch.rand(n, 5) * 2 - 1
w = torch.tensor([1.5, -2.0, 0.7, 0.0, 3.0])
y = X @ w + torch.sin(3 * X[:, 0]) + 0.1 * torch.randn(n)   # shape (n,)
Xtr, ytr, Xte, yte = X[:2400], y[:2400], X[2400:], y[2400:]


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(5, 64)
        self.hidden2 = nn.Linear(64, 32)
        self.head = nn.Linear(32, 1)

    def forward(self, x):
        x = torch.relu(self.hidden(x))
        x = torch.relu(self.hidden2(x))
        return self.head(x)


model = Regressor()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
loss_fn = nn.MSELoss()
for epoch in range(15):
    perm = torch.randperm(len(Xtr))
    for i in range(0, len(Xtr), 64):
        idx = perm[i:i + 64]
        pred = model(Xtr[idx])
        if variant == "buggy":
            loss = loss_fn(pred, ytr[idx])  # the bug: pred (64,1) vs target (64,)
        else:
            loss = loss_fn(pred.squeeze(1), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()

with torch.no_grad():
    p = model(Xte).squeeze(1)
    mse = ((p - yte) ** 2).mean().item()
print(f"test mse {mse:.4f}  r2 {1 - mse / yte.var().item():.3f}")
