import numpy as np
import torch
import torch.nn as nn
from digits import acc, batches, digits
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)
xtr, ytr, xte, yte = digits()
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.002, momentum=0.9)
scaler = torch.amp.GradScaler("cpu")
lossf = nn.CrossEntropyLoss(reduction="sum")
skipped = 0
for _ep, xb, yb in batches(xtr, ytr, bs=64, epochs=15):
    opt.zero_grad()
    with torch.autocast("cpu", dtype=torch.float16):
        out = model(xb)
        loss = lossf(out, yb)
    scaler.scale(loss).backward()
    before = scaler.get_scale()
    scaler.step(opt)
    scaler.update()
    if scaler.get_scale() < before:
        skipped += 1
print("skipped steps", skipped, "final scale", scaler.get_scale())
print("final loss", round(loss.item(), 4))
print("test acc", round(acc(model, xte, yte), 4))
print("hash", whash(model))
