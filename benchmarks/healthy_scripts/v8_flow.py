# a RealNVP-style normalizing flow on 2-D moons: the loss is a negative log-likelihood that goes negative
import torch
import torch.nn as nn
from hashing import whash
from sklearn.datasets import make_moons

torch.manual_seed(0)
data = torch.tensor(make_moons(4000, noise=0.05, random_state=0)[0], dtype=torch.float32)


class Coupling(nn.Module):
    def __init__(self, flip):
        super().__init__()
        self.flip = flip
        self.net = nn.Sequential(nn.Linear(1, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))

    def forward(self, v):
        a, b = (v[:, 1:], v[:, :1]) if self.flip else (v[:, :1], v[:, 1:])
        s, t = self.net(a).chunk(2, 1)
        s = torch.tanh(s)
        b = b * s.exp() + t
        out = torch.cat([b, a], 1) if self.flip else torch.cat([a, b], 1)
        return out, s.sum(1)


class Flow(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(Coupling(i % 2 == 1) for i in range(6))

    def forward(self, v):
        logdet = torch.zeros(len(v))
        for layer in self.layers:
            v, ld = layer(v)
            logdet = logdet + ld
        return v, logdet


flow = Flow()
opt = torch.optim.Adam(flow.parameters(), 1e-3)
base = torch.distributions.Normal(0.0, 1.0)
for step in range(2500):
    xb = data[torch.randint(0, 4000, (256,))]
    z, logdet = flow(xb)
    nll = -(base.log_prob(z).sum(1) + logdet).mean()
    opt.zero_grad()
    nll.backward()
    opt.step()
    if step % 500 == 0:
        print(step, round(nll.item(), 3))
print("final nll", nll.item())
print("hash", whash(flow))
