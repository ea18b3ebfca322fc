import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
n, d, k = 6000, 20, 4
x = torch.randn(n, d)
logits = x @ torch.randn(d, k) * 0.3
y = torch.distributions.Categorical(logits=logits).sample()  # Bayes accuracy well below 1
m = nn.Sequential(nn.Linear(d, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, k))
opt = torch.optim.Adam(m.parameters(), 1e-3)
for _ep in range(15):
    perm = torch.randperm(n)
    for i in range(0, n, 32):
        j = perm[i : i + 32]
        opt.zero_grad()
        F.cross_entropy(m(x[j]), y[j]).backward()
        opt.step()
m.eval()
print("acc", (m(x).argmax(1) == y).float().mean().item())
