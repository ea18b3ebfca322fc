import sys

import torch
import torch.nn as nn
from digits import acc, batches, digits

torch.manual_seed(0)
variant = sys.argv[1]
xtr, ytr, xte, yte = digits()

model = nn.Sequential(
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 32), nn.ReLU(),
    nn.Linear(32, 10),
)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()

step = 0
for ep, xb, yb in batches(xtr, ytr, bs=32, epochs=10):
    if variant == "fixed":
        opt.zero_grad()  # the bug (missing in buggy)
    loss = loss_fn(model(xb), yb)
    loss.backward()
    opt.step()
    step += 1
    if step % 100 == 0:
        print(f"step {step} loss {loss.item():.4f}")
print(f"final loss {loss.item():.4f}  test acc {acc(model, xte, yte):.3f}")
