import numpy as np
import torch
import torch.nn as nn
from digits import acc, digits
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)
xtr, ytr, xte, yte = digits()
model = nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10))
opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=20, history_size=10, line_search_fn="strong_wolfe")
lossf = nn.CrossEntropyLoss()


def closure():
    opt.zero_grad()
    loss = lossf(model(xtr), ytr) + 1e-4 * sum((p**2).sum() for p in model.parameters())
    loss.backward()
    return loss


for step in range(50):
    loss = opt.step(closure)
    if step % 10 == 0:
        print("step", step, "loss", round(loss.item(), 4))
print("final loss", round(closure().item(), 4))
print("test acc", round(acc(model, xte, yte), 4))
print("hash", whash(model))
