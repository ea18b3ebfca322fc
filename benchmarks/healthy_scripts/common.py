import torch
import torch.nn as nn

torch.manual_seed(0)


def data(n=2048, d=32, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(k, d, generator=g) * 2
    y = torch.randint(0, k, (n,), generator=g)
    x = centers[y] + torch.randn(n, d, generator=g)
    return x, y


def batches(x, y, bs=64):
    perm = torch.randperm(len(x))
    for i in range(0, len(x), bs):
        j = perm[i : i + bs]
        yield x[j], y[j]


def net(d=32, k=5):
    return nn.Sequential(nn.Linear(d, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, k))


def fit(model, opt, x, y, epochs=5, forward=None):
    """The plain loop: cross-entropy on shuffled mini-batches, one optimizer step each (``forward``: what the
    loop calls, e.g. a compiled wrapper of ``model``)."""
    forward = forward or model
    for _ in range(epochs):
        for xb, yb in batches(x, y):
            opt.zero_grad()
            nn.functional.cross_entropy(forward(xb), yb).backward()
            opt.step()


def acc(model, x, y):
    model.eval()
    with torch.no_grad():
        a = (model(x).argmax(1) == y).float().mean().item()
    model.train()
    return a
