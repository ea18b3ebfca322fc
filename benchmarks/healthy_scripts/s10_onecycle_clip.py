import torch
import torch.nn.functional as F
from common import acc, batches, data, net
from torch import nn

x, y = data()
m = net()
opt = torch.optim.SGD(m.parameters(), 0.1, momentum=0.9, weight_decay=5e-4)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=6 * 32)
for _ep in range(6):
    for xb, yb in batches(x, y):
        opt.zero_grad()
        F.cross_entropy(m(xb), yb).backward()
        nn.utils.clip_grad_norm_(m.parameters(), 2.0)
        opt.step()
        sched.step()
print("acc", acc(m, x, y))
