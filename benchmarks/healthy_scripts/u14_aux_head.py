# deep supervision: an auxiliary head used only on every other step, dropped at evaluation
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import acc, batches, digits

torch.manual_seed(0)
x, y, xt, yt = digits()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
        self.b = nn.Sequential(nn.Linear(128, 128), nn.ReLU())
        self.out = nn.Linear(128, 10)
        self.aux = nn.Linear(128, 10)
        self.use_aux = False

    def forward(self, v):
        h = self.a(v)
        o = self.out(self.b(h))
        return (o, self.aux(h)) if self.use_aux else o


net = Net()
opt = torch.optim.SGD(net.parameters(), 0.05, momentum=0.9)
for i, (_ep, xb, yb) in enumerate(batches(x, y, epochs=10)):
    net.use_aux = i % 2 == 0
    out = net(xb)
    loss = (
        F.cross_entropy(out[0], yb) + 0.3 * F.cross_entropy(out[1], yb)
        if net.use_aux
        else F.cross_entropy(out, yb)
    )
    opt.zero_grad()
    loss.backward()
    opt.step()
net.use_aux = False
print("acc", acc(net, xt, yt))
