# Digits MLP with SGD(nesterov) + StepLR(step_size=5 epochs, gamma=0.1) over 15 epochs (lr decays 100x),
# gradient clipping by value (clip_grad_value_).

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import acc, batches, digits
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)
xtr, ytr, xte, yte = digits()
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.1)
last_ep = 0
for ep, xb, yb in batches(xtr, ytr, bs=32, epochs=15):
    if ep != last_ep:
        sched.step()
        print(f"epoch {last_ep} loss {loss.item():.4f} lr {opt.param_groups[0]['lr']:.5f} test_acc {acc(model, xte, yte):.4f}")  # noqa: F821 (set from the first epoch on)
        last_ep = ep
    loss = F.cross_entropy(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_value_(model.parameters(), 0.5)
    opt.step()
print(f"final test_acc {acc(model, xte, yte):.4f}")
print("hash", whash(model))
