import sys

import torch
import torch.nn as nn

torch.manual_seed(0)
variant = sys.argv[1]

n = 4000
x = torch.randn(n, 6)
y = torch.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] - 0.5 * x[:, 3] ** 2 + 0.3 * x[:, 4] + 0.05 * torch.randn(n)
y = y.unsqueeze(1)
xtr, ytr, xte, yte = x[:3200], y[:3200], x[3200:], y[3200:]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 8)
        self.hid = nn.Linear(8, 64)
        self.out = nn.Linear(64, 1)

    def forward(self, x):
        return self.out(torch.tanh(self.hid(torch.tanh(self.inp(x)))))


def freeze(layer):
    for p in layer.parameters():
        p.requires_grad = False


model = Net()
if variant == "buggy":
    freeze(model.inp)  # the bug: left over from a warm-start experiment
opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
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
print(f"test mse {mse:.4f}  r2 {1 - mse / yte.var().item():.3f}")
