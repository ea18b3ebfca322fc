"""A DDP script that watches rank 0 only (``dl.watch`` on rank 0, nothing on the others) with a fault on
rank 0: the ranks cannot agree, so nothing may be stopped (rank 1 would wait forever in DDP's all-reduce).
Each rank writes ``$OUT_DIR/rank<r>.json`` with its step count (and rank 0 its diagnosis)."""

import contextlib
import json
import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import deeplocalize as dl

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
model = DistributedDataParallel(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
g = torch.Generator().manual_seed(rank)
config = dl.Config(rank_join_timeout_s=3.0)
watch = dl.watch(model, opt, store=False, config=config) if rank == 0 else contextlib.nullcontext()
steps = 0
with watch as run:
    for _ in range(300):
        x = torch.randn(32, 8, generator=g)
        y = torch.randint(0, 3, (32,), generator=g)  # noise: the loss cannot go down (a fault on rank 0)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
out = {"steps": steps}
if run is not None:
    out.update(verdict=str(run.diagnosis.verdict), tool_errors=run.diagnosis.tool_errors,
               stopped=run.stopped_early)
(Path(os.environ["OUT_DIR"]) / f"rank{rank}.json").write_text(json.dumps(out))
dist.barrier()  # both ranks tear down together
dist.destroy_process_group()
