# domain-adversarial training (DANN): a gradient-reversal layer makes the features domain-invariant, so the
# domain classifier's loss is meant to stay near ln 2
import torch
import torch.nn as nn
import torch.nn.functional as F
from digits import acc, batches, digits
from hashing import whash

torch.manual_seed(0)
x, y, xt, yt = digits()
shift = torch.randn(64) * 0.15
xs, xd = x[:700], x[700:] + shift  # source and a shifted target domain


class Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, lam):
        ctx.lam = lam
        return v.view_as(v)

    @staticmethod
    def backward(ctx, g):
        return -ctx.lam * g, None


feat = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU())
head = nn.Linear(64, 10)
dom = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.Adam([*feat.parameters(), *head.parameters(), *dom.parameters()], 1e-3)
steps = 0
for _ep, xb, yb in batches(xs, y[:700], epochs=40):
    xdb = xd[torch.randint(0, len(xd), (len(xb),))]
    fs, fd = feat(xb), feat(xdb)
    cls = F.cross_entropy(head(fs), yb)
    lam = min(1.0, steps / 200)
    dl = torch.cat([dom(Reverse.apply(fs, lam)), dom(Reverse.apply(fd, lam))]).squeeze(1)
    dlab = torch.cat([torch.zeros(len(xb)), torch.ones(len(xb))])
    loss = cls + F.binary_cross_entropy_with_logits(dl, dlab)
    opt.zero_grad()
    loss.backward()
    opt.step()
    steps += 1
model = nn.Sequential(feat, head)
print(
    "steps",
    steps,
    "source acc",
    acc(model, xt, yt),
    "target acc",
    acc(model, xt + shift, yt),
    "dom loss",
    loss.item() - cls.item(),
)
print("hash", whash(feat, head, dom))
