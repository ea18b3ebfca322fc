"""An FSDP2 (``fully_shard``) training script watched with ``dl.watch`` for the distributed tests (2 gloo
ranks under torchrun): ``NAN_RANK``/``NAN_STEP`` put a NaN in one rank's batch; each rank writes its
diagnosis to ``$OUT_DIR/rank<r>.json``."""

import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.distributed.fsdp import fully_shard

import deeplocalize as dl

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
fully_shard(model[0])
fully_shard(model[2])
fully_shard(model)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
g = torch.Generator().manual_seed(rank)
nan_rank, nan_step = int(os.environ.get("NAN_RANK", "-1")), int(os.environ.get("NAN_STEP", "50"))
with dl.watch(model, opt, store=False) as run:
    for step in range(200):
        x = torch.randn(32, 8, generator=g)
        y = (x[:, 0] > 0).long()
        if rank == nan_rank and step == nan_step:
            x[0, 0] = float("nan")
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
run.diagnosis.save_json(Path(os.environ["OUT_DIR"]) / f"rank{rank}.json")
dist.destroy_process_group()
