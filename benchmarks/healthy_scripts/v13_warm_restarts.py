import numpy as np
import torch
import torch.nn as nn
from digits import acc, batches, digits
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)
xtr, ytr, xte, yte = digits()
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=50, eta_min=1e-4)
lossf = nn.CrossEntropyLoss()
for step, (_ep, xb, yb) in enumerate(batches(xtr, ytr, bs=64, epochs=14), start=1):
    opt.zero_grad()
    loss = lossf(model(xb), yb)
    loss.backward()
    opt.step()
    sched.step()
    if step % 50 in (0, 3):
        print("step", step, "loss", round(loss.item(), 4), "lr", round(sched.get_last_lr()[0], 4))
print("final loss", round(loss.item(), 4))
print("test acc", round(acc(model, xte, yte), 4))
print("hash", whash(model))
