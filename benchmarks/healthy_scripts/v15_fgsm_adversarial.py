import numpy as np
import torch
import torch.nn as nn
from digits import acc, batches, digits
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)
xtr, ytr, xte, yte = digits()
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
lossf = nn.CrossEntropyLoss()
eps = 0.1
for _ep, xb, yb in batches(xtr, ytr, bs=64, epochs=10):
    x = xb.clone().requires_grad_()
    loss_in = lossf(model(x), yb)
    loss_in.backward()
    x_adv = (x + eps * x.grad.sign()).clamp(0, 1).detach()
    opt.zero_grad()
    loss = lossf(model(torch.cat([xb, x_adv])), torch.cat([yb, yb]))
    loss.backward()
    opt.step()


def adv_acc(model, x, y):
    x = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(lossf(model(x), y), x)
    return acc(model, (x + eps * g.sign()).clamp(0, 1).detach(), y)


print("final loss", round(loss.item(), 4))
print("test acc", round(acc(model, xte, yte), 4), "fgsm acc", round(adv_acc(model, xte, yte), 4))
print("hash", whash(model))
