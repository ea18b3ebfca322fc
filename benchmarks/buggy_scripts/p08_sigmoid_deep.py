import sys

import torch
import torch.nn as nn
from digits import acc, batches, digits

torch.manual_seed(0)
variant = sys.argv[1]
xtr, ytr, xte, yte = digits()

act = nn.Sigmoid if variant == "buggy" else nn.ReLU  # the bug
layers = [nn.Linear(64, 64), act()]
for _ in range(6):
    layers += [nn.Linear(64, 64), act()]
layers += [nn.Linear(64, 10)]
model = nn.Sequential(*layers)
for m in model:
    if isinstance(m, nn.Linear):
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        nn.init.zeros_(m.bias)

opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()
for ep, xb, yb in batches(xtr, ytr, bs=64, epochs=15):
    opt.zero_grad()
    loss = loss_fn(model(xb), yb)
    loss.backward()
    opt.step()
print(f"final loss {loss.item():.4f}  test acc {acc(model, xte, yte):.3f}")
