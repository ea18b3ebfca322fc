import torch
from sklearn.datasets import load_digits


def digits():
    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(x), generator=g)
    return x[perm[:1400]], y[perm[:1400]], x[perm[1400:]], y[perm[1400:]]


def batches(x, y, bs=64, epochs=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    for ep in range(epochs):
        p = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), bs):
            idx = p[i : i + bs]
            yield ep, x[idx], y[idx]


def acc(model, x, y):
    model.eval()
    with torch.no_grad():
        a = (model(x).argmax(-1) == y).float().mean().item()
    model.train()
    return a
