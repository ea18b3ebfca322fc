# CLIP-style: two encoders, a free learnable temperature, symmetric cross-entropy over the batch
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import batches, digits

torch.manual_seed(0)
x, y, xt, yt = digits()
img = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 32))
txt = nn.Sequential(nn.Embedding(10, 32), nn.Linear(32, 32))
logit_scale = nn.Parameter(torch.tensor(2.659))
opt = torch.optim.AdamW(list(img.parameters()) + list(txt.parameters()) + [logit_scale], 1e-3)
for _ep, xb, yb in batches(x, y, bs=32, epochs=6):
    # one caption per class; drop duplicates so the batch has distinct pairs
    _, first = torch.unique(yb, return_inverse=True)
    keep = torch.zeros(len(yb), dtype=torch.bool)
    seen = set()
    for i, c in enumerate(yb.tolist()):
        if c not in seen:
            seen.add(c)
            keep[i] = True
    xb, yb = xb[keep], yb[keep]
    a = F.normalize(img(xb), dim=-1)
    b = F.normalize(txt(yb), dim=-1)
    logits = logit_scale.exp() * a @ b.t()
    labels = torch.arange(len(xb))
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
    opt.zero_grad()
    loss.backward()
    opt.step()
with torch.no_grad():
    a = F.normalize(img(xt), dim=-1)
    b = F.normalize(txt(torch.arange(10)), dim=-1)
    print("zero-shot acc", ((a @ b.t()).argmax(-1) == yt).float().mean().item())
