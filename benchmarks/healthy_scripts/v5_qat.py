# quantization-aware training (eager mode): fake-quant observers in the forward
import torch
import torch.ao.quantization as tq
import torch.nn as nn
from digits import acc, batches, digits
from hashing import whash

torch.manual_seed(0)
x, y, xt, yt = digits()


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = tq.QuantStub()
        self.f1 = nn.Linear(64, 128)
        self.r1 = nn.ReLU()
        self.f2 = nn.Linear(128, 10)
        self.dq = tq.DeQuantStub()

    def forward(self, v):
        return self.dq(self.f2(self.r1(self.f1(self.q(v)))))


m = M()
m.qconfig = tq.get_default_qat_qconfig("x86")
tq.prepare_qat(m, inplace=True)
opt = torch.optim.Adam(m.parameters(), 1e-3)
for ep, xb, yb in batches(x, y, epochs=8):
    if ep == 5:
        m.apply(tq.disable_observer)
    opt.zero_grad()
    nn.functional.cross_entropy(m(xb), yb).backward()
    opt.step()
print("qat acc", acc(m, xt, yt))
print("hash", whash(m))
