# weight normalization and spectral normalization parametrizations
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import acc, batches, digits
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

torch.manual_seed(0)
x, y, xt, yt = digits()
net = nn.Sequential(
    weight_norm(nn.Linear(64, 128)),
    nn.ReLU(),
    spectral_norm(nn.Linear(128, 128)),
    nn.ReLU(),
    nn.Linear(128, 10),
)
opt = torch.optim.SGD(net.parameters(), 0.05, momentum=0.9)
for _ep, xb, yb in batches(x, y, epochs=10):
    opt.zero_grad()
    F.cross_entropy(net(xb), yb).backward()
    opt.step()
print("acc", acc(net, xt, yt))
