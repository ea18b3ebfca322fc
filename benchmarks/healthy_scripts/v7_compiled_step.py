# the whole training step (forward, backward, optimizer step) inside one torch.compile'd function
import torch
import torch.nn as nn
from digits import acc, batches, digits
from hashing import whash

torch.manual_seed(0)
x, y, xt, yt = digits()
m = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.AdamW(m.parameters(), 1e-3)


@torch.compile
def opt_step():
    opt.step()


def train_step(xb, yb):
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(m(xb), yb)
    loss.backward()
    opt_step()
    return loss


for _ep, xb, yb in batches(x, y, epochs=6):
    loss = train_step(xb, yb)
print("acc", acc(m, xt, yt))
print("hash", whash(m))
