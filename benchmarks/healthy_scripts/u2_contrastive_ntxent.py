# contrastive learning: NT-Xent through CrossEntropyLoss, labels index the similarity matrix
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import batches, digits

torch.manual_seed(0)
x, y, xt, yt = digits()
enc = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU())
head = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 16))
model = nn.Sequential(enc, head)
opt = torch.optim.Adam(model.parameters(), 1e-3)


def aug(b):
    return b + 0.1 * torch.randn_like(b) * (torch.rand_like(b) > 0.2)


losses = []
for _ep, xb, _yb in batches(x, y, bs=128, epochs=15):
    z = F.normalize(model(torch.cat([aug(xb), aug(xb)])), dim=1)
    n = len(xb)
    sim = z @ z.t() / 0.5
    sim.fill_diagonal_(-1e9)
    labels = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    loss = F.cross_entropy(sim, labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
print("loss", losses[0], losses[-1])
# linear probe
with torch.no_grad():
    f, ft = enc(x), enc(xt)
probe = nn.Linear(64, 10)
o = torch.optim.Adam(probe.parameters(), 1e-2)
for _ in range(200):
    o.zero_grad()
    F.cross_entropy(probe(f), y).backward()
    o.step()
print("probe acc", (probe(ft).argmax(-1) == yt).float().mean().item())
