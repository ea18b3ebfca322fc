"""The model and data of ``fsdp_stats.py``, shared with the single-process run it is compared with."""

import torch
from torch import nn

STEPS = 60
ROWS = 32  # per rank


def model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))  # 3 rows: shards of 2 and 1


def batch(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(ROWS, 8, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()
