import numpy as np
import torch
import torch.nn as nn
from hashing import whash
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

torch.manual_seed(0)
np.random.seed(0)


def make(n):
    lens = torch.randint(3, 21, (n,))
    seqs = [torch.randn(int(n_steps), 1) for n_steps in lens]
    y = torch.tensor([int(s.sum() > 0) for s in seqs])
    return pad_sequence(seqs, batch_first=True), lens, y


xtr, ltr, ytr = make(3000)
xte, lte, yte = make(500)


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(1, 32, batch_first=True)
        self.fc = nn.Linear(32, 2)

    def forward(self, x, lens):
        packed = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
        _, h = self.gru(packed)
        return self.fc(h[-1])


model = M()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
lossf = nn.CrossEntropyLoss()
g = torch.Generator().manual_seed(0)
for _ep in range(8):
    p = torch.randperm(len(xtr), generator=g)
    for i in range(0, len(xtr), 64):
        idx = p[i : i + 64]
        lb = ltr[idx]
        xb = xtr[idx][:, : int(lb.max())]
        opt.zero_grad()
        loss = lossf(model(xb, lb), ytr[idx])
        loss.backward()
        opt.step()
model.eval()
with torch.no_grad():
    a = (model(xte, lte).argmax(1) == yte).float().mean().item()
print("final loss", round(loss.item(), 4))
print("test acc", round(a, 4))
print("hash", whash(model))
