# a DDPM on 2-D data: the noise-prediction MSE falls fast and then stays high (irreducible noise)
import math

import torch
import torch.nn as nn
from hashing import whash

torch.manual_seed(0)
n = 4000
ang = torch.rand(n) * 2 * math.pi
data = torch.stack([torch.cos(ang), torch.sin(ang)], 1) * 2 + 0.05 * torch.randn(n, 2)
T = 100
betas = torch.linspace(1e-4, 0.02, T)
abar = torch.cumprod(1 - betas, 0)


class Eps(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(T, 32)
        self.net = nn.Sequential(
            nn.Linear(2 + 32, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 2)
        )

    def forward(self, xt, t):
        return self.net(torch.cat([xt, self.emb(t)], 1))


model = Eps()
opt = torch.optim.Adam(model.parameters(), 1e-3)
for step in range(3000):
    x0 = data[torch.randint(0, n, (128,))]
    t = torch.randint(0, T, (128,))
    eps = torch.randn_like(x0)
    a = abar[t].unsqueeze(1)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
    loss = nn.functional.mse_loss(model(xt, t), eps)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 500 == 0:
        print(step, round(loss.item(), 4))
# sample and check the radius
with torch.no_grad():
    xs = torch.randn(500, 2)
    for t in reversed(range(T)):
        tt = torch.full((500,), t)
        e = model(xs, tt)
        xs = (xs - betas[t] / (1 - abar[t]).sqrt() * e) / (1 - betas[t]).sqrt()
        if t > 0:
            xs = xs + betas[t].sqrt() * torch.randn_like(xs)
print("mean radius (target 2)", xs.norm(dim=1).mean().item())
print("hash", whash(model))
