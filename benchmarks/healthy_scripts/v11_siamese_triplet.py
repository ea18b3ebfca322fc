import numpy as np
import torch
import torch.nn as nn
from digits import digits
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)
xtr, ytr, xte, yte = digits()
enc = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 32))
opt = torch.optim.Adam(enc.parameters(), lr=1e-3)
lossf = nn.TripletMarginLoss(margin=1.0)
g = torch.Generator().manual_seed(0)
byc = [torch.nonzero(ytr == c).squeeze(1) for c in range(10)]


def sample(bs=64):
    a = torch.randint(0, len(xtr), (bs,), generator=g)
    ya = ytr[a]
    p = torch.stack([byc[c][torch.randint(0, len(byc[c]), (1,), generator=g)][0] for c in ya.tolist()])
    yn = (ya + torch.randint(1, 10, (bs,), generator=g)) % 10
    n = torch.stack([byc[c][torch.randint(0, len(byc[c]), (1,), generator=g)][0] for c in yn.tolist()])
    return xtr[a], xtr[p], xtr[n]


for _step in range(600):
    xa, xp, xn = sample()
    opt.zero_grad()
    loss = lossf(enc(xa), enc(xp), enc(xn))
    loss.backward()
    opt.step()
enc.eval()
with torch.no_grad():
    etr, ete = enc(xtr), enc(xte)
    cents = torch.stack([etr[ytr == c].mean(0) for c in range(10)])
    pred = torch.cdist(ete, cents).argmin(1)
print("final loss", round(loss.item(), 4))
print("nearest-centroid acc", round((pred == yte).float().mean().item(), 4))
print("hash", whash(enc))
