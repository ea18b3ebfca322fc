import sys

import torch
import torch.nn as nn
from digits import acc, batches, digits

torch.manual_seed(0)
variant = sys.argv[1]
xtr, ytr, xte, yte = digits()


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 64)
        self.out = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.out(x)


model = MLP()
lr = 5.0 if variant == "buggy" else 0.05  # the bug
opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()
for ep, xb, yb in batches(xtr, ytr, bs=64, epochs=15):
    opt.zero_grad()
    loss = loss_fn(model(xb), yb)
    loss.backward()
    opt.step()
print(f"final loss {loss.item():.4f}  test acc {acc(model, xte, yte):.3f}")
