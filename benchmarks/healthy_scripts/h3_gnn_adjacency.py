# Hand-written 2-layer GCN (normalized adjacency matmul) for node classification on a random
# stochastic block model graph with noisy node features.

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)

n, k, d = 300, 4, 16
labels = torch.arange(n) % k
same = labels[:, None] == labels[None, :]
p = torch.where(same, torch.tensor(0.08), torch.tensor(0.006))
A = (torch.rand(n, n) < p).float()
A = torch.triu(A, 1)
A = A + A.T + torch.eye(n)
deg = A.sum(1)
Dinv = deg.pow(-0.5)
A_hat = Dinv[:, None] * A * Dinv[None, :]

centers = torch.randn(k, d) * 0.6
X = centers[labels] + torch.randn(n, d)

perm = torch.randperm(n)
train_idx, val_idx, test_idx = perm[:80], perm[80:150], perm[150:]


class GCN(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Linear(d, 32)
        self.w2 = nn.Linear(32, k)
        self.drop = nn.Dropout(0.5)

    def forward(self, A, X):
        h = F.relu(A @ self.w1(X))
        h = self.drop(h)
        return A @ self.w2(h)


model = GCN()
opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
for epoch in range(200):
    model.train()
    out = model(A_hat, X)
    loss = F.cross_entropy(out[train_idx], labels[train_idx])
    opt.zero_grad()
    loss.backward()
    opt.step()
    if epoch % 50 == 0:
        model.eval()
        with torch.no_grad():
            va = (model(A_hat, X)[val_idx].argmax(-1) == labels[val_idx]).float().mean().item()
        print(f"epoch {epoch} loss {loss.item():.4f} val_acc {va:.3f}")

model.eval()
with torch.no_grad():
    pred = model(A_hat, X).argmax(-1)
te = (pred[test_idx] == labels[test_idx]).float().mean().item()
print(f"final test_acc {te:.4f}")
print("hash", whash(model))
