# a sparse embedding stepped by SparseAdam, the rest by Adam: two optimizers on one model
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
V, n = 5000, 20000
items = torch.randint(0, V, (n, 5))
w_true = torch.randn(V)
y = (w_true[items].sum(1) > 0).float()


class Rec(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.EmbeddingBag(V, 16, mode="sum", sparse=True)
        self.mlp = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, v):
        return self.mlp(self.emb(v)).squeeze(-1)


m = Rec()
o1 = torch.optim.SparseAdam(list(m.emb.parameters()), 1e-2)
o2 = torch.optim.Adam(m.mlp.parameters(), 1e-3)
for _ep in range(3):
    perm = torch.randperm(n)
    for i in range(0, n, 256):
        idx = perm[i : i + 256]
        loss = F.binary_cross_entropy_with_logits(m(items[idx]), y[idx])
        o1.zero_grad()
        o2.zero_grad()
        loss.backward()
        o1.step()
        o2.step()
with torch.no_grad():
    print("acc", ((m(items) > 0).float() == y).float().mean().item())
