# a cross-encoder: one score per (query, candidate) pair, reshaped to (N, K) for cross-entropy over candidates
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
D, K, N = 16, 8, 64
proto = torch.randn(50, D)
scorer = nn.Sequential(nn.Linear(2 * D, 64), nn.ReLU(), nn.Linear(64, 1))
opt = torch.optim.Adam(scorer.parameters(), 1e-3)


def batch():
    q = torch.randint(0, 50, (N,))
    cands = torch.randint(0, 50, (N, K))
    pos = torch.randint(0, K, (N,))
    cands[torch.arange(N), pos] = q
    qv = proto[q] + 0.3 * torch.randn(N, D)
    cv = proto[cands]
    pair = torch.cat([qv[:, None].expand(-1, K, -1), cv], -1)
    return pair, pos


for step in range(400):
    pair, pos = batch()
    scores = scorer(pair).squeeze(-1)  # (N, K)
    loss = F.cross_entropy(scores, pos)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 100 == 0:
        print(step, loss.item())
pair, pos = batch()
with torch.no_grad():
    print("acc", (scorer(pair).squeeze(-1).argmax(-1) == pos).float().mean().item())
