import sys

import torch
import torch.nn as nn
from digits import acc, batches, digits

torch.manual_seed(0)
variant = sys.argv[1]
xtr, ytr, xte, yte = digits()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 64)
        self.fc3 = nn.Linear(64, 10)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                if variant == "buggy":
                    nn.init.constant_(m.weight, 0.05)  # the bug
                else:
                    nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


model = Net()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
for ep, xb, yb in batches(xtr, ytr, bs=64, epochs=15):
    opt.zero_grad()
    loss = loss_fn(model(xb), yb)
    loss.backward()
    opt.step()
print(f"final loss {loss.item():.4f}  test acc {acc(model, xte, yte):.3f}")
