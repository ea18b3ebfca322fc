# MoCo-style self-supervised pretraining on digits: query encoder + momentum (EMA) key encoder,
# a FIFO queue of negative keys, InfoNCE loss; then a linear probe on frozen features.
import copy
import hashlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import acc, digits

torch.manual_seed(0)
np.random.seed(0)
xtr, ytr, xte, yte = digits()


def augment(x):
    x = x + 0.1 * torch.randn_like(x)
    mask = (torch.rand_like(x) > 0.15).float()
    return (x * mask).clamp(0, 1)


enc_q = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 32))
enc_k = copy.deepcopy(enc_q)
for p in enc_k.parameters():
    p.requires_grad_(False)

K, m, T = 512, 0.99, 0.2
queue = F.normalize(torch.randn(K, 32), dim=1)
ptr = 0
opt = torch.optim.SGD(enc_q.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
g = torch.Generator().manual_seed(0)
for epoch in range(15):
    perm = torch.randperm(len(xtr), generator=g)
    for i in range(0, len(xtr) - 63, 64):
        x = xtr[perm[i : i + 64]]
        q = F.normalize(enc_q(augment(x)), dim=1)
        with torch.no_grad():
            for pq, pk in zip(enc_q.parameters(), enc_k.parameters(), strict=False):
                pk.mul_(m).add_(pq.detach(), alpha=1 - m)
            k = F.normalize(enc_k(augment(x)), dim=1)
        l_pos = (q * k).sum(1, keepdim=True)
        l_neg = q @ queue.T
        logits = torch.cat([l_pos, l_neg], 1) / T
        loss = F.cross_entropy(logits, torch.zeros(len(x), dtype=torch.long))
        opt.zero_grad()
        loss.backward()
        opt.step()
        queue[ptr : ptr + len(k)] = k
        ptr = (ptr + len(k)) % K
    print(f"epoch {epoch} infonce {loss.item():.4f}")

# linear probe on frozen query-encoder features
with torch.no_grad():
    ftr, fte = enc_q(xtr), enc_q(xte)
probe = nn.Linear(32, 10)
popt = torch.optim.Adam(probe.parameters(), lr=1e-2)
for _step in range(300):
    l = F.cross_entropy(probe(ftr), ytr)
    popt.zero_grad()
    l.backward()
    popt.step()
print(f"final probe_test_acc {acc(probe, fte, yte):.4f}")
ps = list(enc_q.parameters()) + list(enc_k.parameters()) + list(probe.parameters())
print("hash", hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in ps)).hexdigest()[:16])
