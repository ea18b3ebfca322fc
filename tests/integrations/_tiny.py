"""A tiny classification problem shared by the trainer integration tests (torch only, generated data)."""

from __future__ import annotations

import torch
from torch import nn


def data(n: int = 128, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two separable classes in 4 features."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=gen)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x, y


class TinyNet(nn.Module):
    """fc1 -> relu -> fc2 (logits for 2 classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 16)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(x)))


class Log(nn.Module):
    """``log(x)``: NaN for the negative values a Linear layer produces (the bug the NaN runs inject)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x)


class NaNNet(TinyNet):
    """fc1 -> log -> fc2: the log layer turns finite inputs into NaN on the first forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.relu = Log()  # the same position in forward order as TinyNet's ReLU: index 1
