# GRU sequence tagger on variable-length token sequences, padded to a fixed length.
# Task: at every position output the token seen two steps earlier (first two positions: tag 1).
import sys

import torch
import torch.nn as nn

variant = sys.argv[1] if len(sys.argv) > 1 else "fixed"
torch.manual_seed(0)
torch.set_num_threads(1)

PAD, V, MAXLEN = 0, 12, 80   # tokens 2..11 are real symbols, 1 = "no tag yet"


def make_data(n):
    x = torch.full((n, MAXLEN), PAD)
    y = torch.full((n, MAXLEN), PAD)
    lens = torch.randint(4, 13, (n,))
    for i in range(n):
        L = lens[i].item()
        seq = torch.randint(2, V, (L,))
        x[i, :L] = seq
        y[i, :2] = 1
        y[i, 2:L] = seq[:-2]
    return x, y


xtr, ytr = make_data(3000)
xte, yte = make_data(1000)


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 16, padding_idx=PAD)
        self.gru = nn.GRU(16, 64, batch_first=True)
        self.out = nn.Linear(64, V)

    def forward(self, x):
        h, _ = self.gru(self.emb(x))
        return self.out(h)


model = Tagger()
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
if variant == "buggy":
    loss_fn = nn.CrossEntropyLoss()  # the bug
else:
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD)  # the bug
g = torch.Generator().manual_seed(0)
for ep in range(5):
    perm = torch.randperm(len(xtr), generator=g)
    for i in range(0, len(xtr), 64):
        idx = perm[i:i + 64]
        logits = model(xtr[idx])
        loss = loss_fn(logits.reshape(-1, V), ytr[idx].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"epoch {ep} loss {loss.item():.4f}")

with torch.no_grad():
    pred = model(xte).argmax(-1)
    real = yte != PAD
    tok_acc = (pred[real] == yte[real]).float().mean().item()
print(f"final train loss {loss.item():.4f}")
print(f"test accuracy on real tokens {tok_acc:.3f}")
