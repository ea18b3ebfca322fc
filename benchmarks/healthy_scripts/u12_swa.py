# stochastic weight averaging with torch.optim.swa_utils (an AveragedModel updated by hand)
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import acc, batches, digits
from torch.optim.swa_utils import SWALR, AveragedModel

torch.manual_seed(0)
x, y, xt, yt = digits()
net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
swa = AveragedModel(net)
opt = torch.optim.SGD(net.parameters(), 0.05, momentum=0.9)
swa_sched = SWALR(opt, swa_lr=0.02)
last = -1
for ep, xb, yb in batches(x, y, epochs=12):
    opt.zero_grad()
    F.cross_entropy(net(xb), yb).backward()
    opt.step()
    if ep >= 6 and ep != last:
        last = ep
        swa.update_parameters(net)
        swa_sched.step()
print("acc", acc(net, xt, yt), "swa", acc(swa, xt, yt))
