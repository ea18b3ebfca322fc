import hashlib
import random

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from digits import digits
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

torch.set_num_threads(1)
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(0)
np.random.seed(0)
random.seed(0)
xtr, ytr, xte, yte = digits()
ds = TensorDataset(xtr, ytr)
sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=0)
dl = DataLoader(ds, batch_size=32, sampler=sampler)
model = DDP(nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
crit = nn.CrossEntropyLoss()
for ep in range(15):
    sampler.set_epoch(ep)
    tot = torch.zeros(2)
    for xb, yb in dl:
        loss = crit(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tot += torch.tensor([loss.item() * len(xb), len(xb)])
    dist.all_reduce(tot)
    if rank == 0 and ep % 3 == 2:
        print(f"epoch {ep} mean train loss {(tot[0] / tot[1]).item():.4f}", flush=True)
model.eval()
with torch.no_grad():
    acc = (model.module(xte).argmax(-1) == yte).float().mean().item()
if rank == 0:
    print(f"world {world} test acc {acc:.4f}")
    print(
        "hash",
        hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.module.parameters())).hexdigest()[
            :16
        ],
        flush=True,
    )
dist.barrier()
dist.destroy_process_group()
