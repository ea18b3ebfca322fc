import sys

import torch
import torch.nn as nn
from digits import acc, batches, digits

torch.manual_seed(0)
variant = sys.argv[1]
xtr, ytr, xte, yte = digits()

layers = [
    nn.Linear(64, 100), nn.ReLU(),
    nn.Linear(100, 100), nn.ReLU(),
    nn.Linear(100, 10),
]
if variant == "buggy":
    layers.append(nn.Softmax(dim=1))  # the bug
model = nn.Sequential(*layers)

opt = torch.optim.SGD(model.parameters(), lr=0.1)
loss_fn = nn.CrossEntropyLoss()
for ep, xb, yb in batches(xtr, ytr, bs=64, epochs=15):
    opt.zero_grad()
    loss = loss_fn(model(xb), yb)
    loss.backward()
    opt.step()
print(f"final loss {loss.item():.4f}  test acc {acc(model, xte, yte):.3f}")
