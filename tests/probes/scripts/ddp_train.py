"""A DDP training script for the distributed tests (2 gloo ranks under torchrun): three classes from
random features; ``NAN_RANK``/``NAN_STEP`` put a NaN in one rank's batch, ``NOISE_RANK`` gives one rank
labels that are noise (its own loss cannot go down), ``DESYNC_RANK``/``DESYNC_STEP`` change one rank's
copy of the last layer's weights (its replica drifts apart), ``KILL_RANK``/``KILL_STEP`` make one rank
exit abruptly (as if killed; with ``STALL_OTHERS`` the others pause at that step, so that torchrun's SIGTERM
reaches them before their next collective fails), ``STEPS`` sets the length."""

import os
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.nn.parallel import DistributedDataParallel

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
model = DistributedDataParallel(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
g = torch.Generator().manual_seed(rank)
nan_rank, nan_step = int(os.environ.get("NAN_RANK", "-1")), int(os.environ.get("NAN_STEP", "50"))
noise_rank = int(os.environ.get("NOISE_RANK", "-1"))
desync_rank, desync_step = int(os.environ.get("DESYNC_RANK", "-1")), int(os.environ.get("DESYNC_STEP", "50"))
kill_rank, kill_step = int(os.environ.get("KILL_RANK", "-1")), int(os.environ.get("KILL_STEP", "100"))
for step in range(int(os.environ.get("STEPS", "300"))):
    if rank == kill_rank and step == kill_step:
        os._exit(7)
    if kill_rank >= 0 and step == kill_step and os.environ.get("STALL_OTHERS"):
        time.sleep(60)
    x = torch.randn(32, 8, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    if rank == noise_rank:
        y = torch.randint(0, 3, (32,), generator=g)
    if rank == nan_rank and step == nan_step:
        x[0, 0] = float("nan")
    if rank == desync_rank and step == desync_step:
        with torch.no_grad():
            model.module[2].weight.mul_(1.01)
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
dist.destroy_process_group()
