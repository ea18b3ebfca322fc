import hashlib
import math
import random

import numpy as np
import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.manual_seed(0)
np.random.seed(0)
random.seed(0)
PAD, V, MAXLEN = 0, 20, 24


# task: does token 7 appear more often than token 11 in the (variable-length) sequence?
def make(n, rng):
    x = torch.full((n, MAXLEN), PAD, dtype=torch.long)
    y = torch.zeros(n, dtype=torch.long)
    for i in range(n):
        L = rng.randint(4, MAXLEN + 1)
        s = rng.randint(1, V, size=L)
        x[i, :L] = torch.tensor(s)
        y[i] = int((s == 7).sum() > (s == 11).sum())
    return x, y


rng = np.random.RandomState(0)
xtr, ytr = make(4000, rng)
xte, yte = make(1000, rng)


class Clf(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.emb = nn.Embedding(V, d, padding_idx=PAD)
        self.pos = nn.Parameter(torch.randn(1, MAXLEN, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, nhead=4, dim_feedforward=128, dropout=0.1, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, num_layers=2)
        self.head = nn.Linear(d, 2)

    def forward(self, x):
        pad = x == PAD
        h = self.enc(self.emb(x) + self.pos, src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).float()
        return self.head((h * keep).sum(1) / keep.sum(1))  # masked mean pooling


model = Clf()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
epochs, bs = 8, 64
total = epochs * math.ceil(len(xtr) / bs)
warm = int(0.1 * total)
sched = torch.optim.lr_scheduler.LambdaLR(
    opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / (total - warm))
)  # linear warmup then linear decay
crit = nn.CrossEntropyLoss()
for ep in range(epochs):
    perm = torch.randperm(len(xtr))
    tot = 0.0
    for i in range(0, len(xtr), bs):
        idx = perm[i : i + bs]
        loss = crit(model(xtr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        tot += loss.item() * len(idx)
    print(f"epoch {ep} lr {sched.get_last_lr()[0]:.2e} loss {tot / len(xtr):.4f}")
model.eval()
with torch.no_grad():
    acc = (model(xte).argmax(-1) == yte).float().mean().item()
majority = max(yte.float().mean().item(), 1 - yte.float().mean().item())
print(f"test acc {acc:.4f} (majority baseline {majority:.4f})")
print(
    "hash",
    hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()[:16],
)
