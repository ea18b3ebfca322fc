# multi-task learning with learnable loss weights (Kendall et al.): free parameters in the optimizer
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import batches, digits

torch.manual_seed(0)
x, y, xt, yt = digits()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
        self.cls = nn.Linear(128, 10)
        self.rec = nn.Linear(128, 64)
        self.unused = nn.Linear(128, 3)  # left over from an experiment, never called

    def forward(self, v):
        h = self.body(v)
        return self.cls(h), self.rec(h)


net = Net()
log_vars = torch.zeros(2, requires_grad=True)
opt = torch.optim.Adam([*list(net.parameters()), log_vars], 1e-3)
for _ep, xb, yb in batches(x, y, epochs=10):
    logits, recon = net(xb)
    l1, l2 = F.cross_entropy(logits, yb), F.mse_loss(recon, xb)
    loss = torch.exp(-log_vars[0]) * l1 + log_vars[0] + torch.exp(-log_vars[1]) * l2 + log_vars[1]
    opt.zero_grad()
    loss.backward()
    opt.step()
net.eval()
with torch.no_grad():
    print("acc", (net(xt)[0].argmax(-1) == yt).float().mean().item())
