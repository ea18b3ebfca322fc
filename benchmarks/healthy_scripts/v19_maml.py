import math

import numpy as np
import torch
import torch.nn as nn
from hashing import whash
from torch.func import functional_call

torch.manual_seed(0)
np.random.seed(0)
model = nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))
meta_opt = torch.optim.Adam(model.parameters(), lr=2e-3)
inner_lr, K = 0.01, 10


def task():
    amp = np.random.uniform(0.1, 5.0)
    ph = np.random.uniform(0, math.pi)

    def s(n):
        x = torch.tensor(np.random.uniform(-5, 5, (n, 1)), dtype=torch.float32)
        return x, amp * torch.sin(x + ph)

    return s


def adapt(params, xs, ys, steps=1):
    for _ in range(steps):
        inner = nn.functional.mse_loss(functional_call(model, params, (xs,)), ys)
        gr = torch.autograd.grad(inner, list(params.values()), create_graph=True)
        params = {k: v - inner_lr * g for (k, v), g in zip(params.items(), gr, strict=False)}
    return params


for it in range(1500):
    meta_opt.zero_grad()
    tot = 0.0
    for _ in range(4):
        s = task()
        xs, ys = s(K)
        xq, yq = s(K)
        p = adapt(dict(model.named_parameters()), xs, ys)
        lq = nn.functional.mse_loss(functional_call(model, p, (xq,)), yq)
        (lq / 4).backward()
        tot += lq.item() / 4
    meta_opt.step()
    if it % 300 == 0:
        print("iter", it, "meta loss", round(tot, 4))
# eval: post-adaptation loss on fresh tasks, vs pre-adaptation
pre = post = 0.0
for _ in range(100):
    s = task()
    xs, ys = s(K)
    xq, yq = s(100)
    params = {k: v.detach().requires_grad_() for k, v in model.named_parameters()}
    with torch.no_grad():
        pre += nn.functional.mse_loss(functional_call(model, params, (xq,)), yq).item() / 100
    p = adapt(params, xs, ys, steps=10)
    with torch.no_grad():
        post += nn.functional.mse_loss(functional_call(model, p, (xq,)), yq).item() / 100
print("eval mse pre-adapt", round(pre, 4), "post-adapt(10 steps)", round(post, 4))
print("hash", whash(model))
