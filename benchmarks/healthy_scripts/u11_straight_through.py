# a binarized hidden layer trained with a straight-through estimator (custom autograd.Function)
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import acc, batches, digits

torch.manual_seed(0)
x, y, xt, yt = digits()


class SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return torch.sign(v)

    @staticmethod
    def backward(ctx, g):
        (v,) = ctx.saved_tensors
        return g * (v.abs() <= 1).float()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 256)
        self.bn = nn.BatchNorm1d(256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, v):
        return self.fc2(SignSTE.apply(self.bn(self.fc1(v))))


net = Net()
opt = torch.optim.Adam(net.parameters(), 1e-3)
for _ep, xb, yb in batches(x, y, epochs=10):
    opt.zero_grad()
    F.cross_entropy(net(xb), yb).backward()
    opt.step()
print("acc", acc(net, xt, yt))
