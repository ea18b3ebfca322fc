import numpy as np
import torch
import torch.nn as nn
from digits import acc, batches, digits
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)
xtr, ytr, xte, yte = digits()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 32), nn.ReLU())
        self.cls = nn.Linear(32, 10)
        self.dec = nn.Sequential(nn.Linear(32, 64), nn.Sigmoid())

    def forward(self, x):
        z = self.enc(x)
        return self.cls(z), self.dec(z)


model = Net()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
ce, l1 = nn.CrossEntropyLoss(), nn.L1Loss()
for _ep, xb, yb in batches(xtr, ytr, bs=64, epochs=10):
    opt.zero_grad()
    logits, rec = model(xb)
    loss_c = ce(logits, yb)
    loss_r = l1(rec, xb)
    loss_c.backward(retain_graph=True)
    (0.5 * loss_r).backward()
    opt.step()


class Cls(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)[0]


print("final cls loss", round(loss_c.item(), 4), "rec loss", round(loss_r.item(), 4))
print("test acc", round(acc(Cls(model), xte, yte), 4))
print("hash", whash(model))
