# LSTM classifier reading 8x8 digit images row by row (batch, 8 timesteps, 8 pixels).
import sys

import torch
import torch.nn as nn
from digits import acc, batches, digits

variant = sys.argv[1] if len(sys.argv) > 1 else "fixed"
torch.manual_seed(0)
torch.set_num_threads(1)

xtr, ytr, xte, yte = digits()
xtr, xte = xtr.view(-1, 8, 8), xte.view(-1, 8, 8)   # (batch, time, features)


class RowLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        if variant == "buggy":
            self.lstm = nn.LSTM(8, 64)  # the bug
        else:
            self.lstm = nn.LSTM(8, 64, batch_first=True)  # the bug
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


model = RowLSTM()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
loss_fn = nn.CrossEntropyLoss()
for ep, xb, yb in batches(xtr, ytr, bs=32, epochs=10):
    loss = loss_fn(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"final train loss {loss.item():.4f}")
print(f"test accuracy {acc(model, xte, yte):.3f}")
