# magnitude pruning with torch.nn.utils.prune (weight = weight_orig * mask), then fine-tuning
import torch
import torch.nn as nn
import torch.nn.utils.prune as prune
from digits import acc, batches, digits
from hashing import whash

torch.manual_seed(0)
x, y, xt, yt = digits()
m = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.SGD(m.parameters(), 0.05, momentum=0.9)


def train(epochs, seed):
    for _ep, xb, yb in batches(x, y, epochs=epochs, seed=seed):
        opt.zero_grad()
        nn.functional.cross_entropy(m(xb), yb).backward()
        opt.step()


train(5, 0)
print("dense", acc(m, xt, yt))
for layer in (m[0], m[2]):
    prune.l1_unstructured(layer, "weight", amount=0.8)
prune.ln_structured(m[2], "weight", amount=0.5, n=2, dim=0)  # half the second layer's units removed
opt = torch.optim.SGD(m.parameters(), 0.05, momentum=0.9)
train(5, 1)
print("pruned", acc(m, xt, yt))
print("hash", whash(m))
