# GRU classifier reading 8x8 digit images row by row (8 timesteps of 8 pixels).
import sys

import torch
import torch.nn as nn
from digits import acc, batches, digits

variant = sys.argv[1] if len(sys.argv) > 1 else "fixed"
torch.manual_seed(0)
torch.set_num_threads(1)

xtr, ytr, xte, yte = digits()
xtr, xte = xtr.view(-1, 8, 8), xte.view(-1, 8, 8)


class RowGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(8, 64, batch_first=True)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        out, h = self.gru(x)
        logits = self.fc(h[-1])
        if variant == "buggy":
            return torch.softmax(logits, dim=-1)  # the bug
        return logits  # the bug


model = RowGRU()
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()
for ep, xb, yb in batches(xtr, ytr, bs=32, epochs=10):
    loss = loss_fn(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"final train loss {loss.item():.4f}")
print(f"test accuracy {acc(model, xte, yte):.3f}")
