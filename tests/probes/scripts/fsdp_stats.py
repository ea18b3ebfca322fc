"""An FSDP2 (``fully_shard``) model on 2 gloo ranks, each with its own half of every batch; writes the
per-layer statistics of the parameters, their gradients and their updates that rank 0's trace holds at its
statistics steps to ``$OUT_DIR/rank<r>.json`` (compared with one process training the whole batches)."""

import json
import os
from pathlib import Path

import _fsdp_model as fm
import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F  # noqa: N812
from torch.distributed.fsdp import fully_shard

import deeplocalize as dl
from deeplocalize.vocabulary import Channel

dist.init_process_group("gloo")
rank = dist.get_rank()
model = fm.model()
for layer in (model[0], model[2]):
    fully_shard(layer)
fully_shard(model)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
g = torch.Generator().manual_seed(rank)
with dl.watch(model, opt, store=False, config=dl.Config(stats_every=10)) as run:
    for _ in range(fm.STEPS):
        x, y = fm.batch(g)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
trace = run.monitor.trace
out = {}
for layer in (0, 2):
    for channel in (Channel.WEIGHTS, Channel.WEIGHT_GRAD, Channel.UPDATE):
        rows = trace.matrix(layer, channel)
        for step, row in zip(trace.steps(), rows, strict=True):
            if np.isfinite(row[4]):  # the mean: measured on statistics steps only
                out.setdefault(str(int(step)), {})[f"{layer}/{channel}"] = [float(v) for v in row]
document = {"stats": out, "errors": run.diagnosis.tool_errors}
Path(os.environ["OUT_DIR"], f"rank{rank}.json").write_text(json.dumps(document))
dist.destroy_process_group()
