# LSTM regressor: predict the sum of a random sequence.
import sys

import torch
import torch.nn as nn

variant = sys.argv[1] if len(sys.argv) > 1 else "fixed"
torch.manual_seed(0)
torch.set_num_threads(1)

N, L = 4000, 30
x = torch.randn(N, L, 1)
y = x.sum(dim=1)  # target: sum of the sequence
xtr, ytr, xte, yte = x[:3200], y[:3200], x[3200:], y[3200:]


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, 64, batch_first=True)
        self.fc = nn.Linear(64, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


model = Regressor()
lr = 2.0 if variant == "buggy" else 0.01  # the bug
opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
loss_fn = nn.MSELoss()
g = torch.Generator().manual_seed(0)
for ep in range(15):
    perm = torch.randperm(len(xtr), generator=g)
    for i in range(0, len(xtr), 64):
        idx = perm[i:i + 64]
        loss = loss_fn(model(xtr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        test_mse = loss_fn(model(xte), yte).item()
    print(f"epoch {ep} train loss {loss.item():.4f} test mse {test_mse:.4f}")
print(f"final test mse {test_mse:.4f} (target variance {yte.var().item():.2f})")
