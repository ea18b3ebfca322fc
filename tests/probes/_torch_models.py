"""Tiny torch models and loops shared by the torch probe tests (generated data, a few steps each)."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn


class NanFrom(nn.Module):
    """Divides by zero once ``armed`` (set by the test; a replay sees the same module state)."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / 0.0 if self.armed else x


def mlp(seed: int = 0, dropout: bool = True) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(8, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(0.2))
    layers += [nn.Linear(16, 3)]
    return nn.Sequential(*layers)


def cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 3 * 3, 16), nn.ReLU(inplace=True), nn.Linear(16, 3),
    )


def blobs(n: int = 64, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Three separable classes in 8 features."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 8, generator=g) * 0.5
    x[torch.arange(n), y] += 2.0
    return x, y


def images(n: int = 32, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 1, 8, 8, generator=g) * 0.3
    for i in range(n):  # a class-dependent bright row
        x[i, 0, 2 * int(y[i]) + 1] += 2.0
    return x, y


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 5, lr: float = 0.1,
          opt: torch.optim.Optimizer | None = None, batch: int = 16) -> torch.optim.Optimizer:
    """A plain training loop with F.cross_entropy, mini-batches cycling over the data."""
    opt = opt or torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.train()
    for step in range(steps):
        i = (step * batch) % len(x)
        xb, yb = x[i:i + batch], y[i:i + batch]
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
    return opt
