# SimSiam: two augmented views, a predictor, stop-gradient on the target branch; loss is negative cosine
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import batches, digits
from hashing import whash

torch.manual_seed(0)
x, y, xt, yt = digits()
enc = nn.Sequential(
    nn.Linear(64, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 64), nn.BatchNorm1d(64)
)
pred = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 64))
opt = torch.optim.SGD([*enc.parameters(), *pred.parameters()], 0.05, momentum=0.9, weight_decay=1e-4)


def aug(v):
    return (v + 0.1 * torch.randn_like(v)) * (torch.rand_like(v) > 0.2)


def d(p, z):
    return -F.cosine_similarity(p, z.detach(), dim=-1).mean()


for _ep, xb, _yb in batches(x, y, bs=128, epochs=30):
    z1, z2 = enc(aug(xb)), enc(aug(xb))
    loss = 0.5 * d(pred(z1), z2) + 0.5 * d(pred(z2), z1)
    opt.zero_grad()
    loss.backward()
    opt.step()
print("final loss", loss.item())
enc.eval()
with torch.no_grad():
    ztr, zte = F.normalize(enc(x), dim=1), F.normalize(enc(xt), dim=1)
knn = y[(zte @ ztr.T).argmax(1)]
print("knn acc", (knn == yt).float().mean().item())
print("hash", whash(enc, pred))
