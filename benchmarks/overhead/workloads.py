"""Reference training workloads for the overhead benchmark: small, fixed, CPU-sized models.

Each workload builds a model, an optimizer, a loss function and a few fixed batches, so that what is timed is
the training step itself (no data loading).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Workload:
    """A model with its optimizer, loss and batches; ``step(i)`` runs one ordinary training step."""

    name: str
    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    batches: list[tuple[torch.Tensor, torch.Tensor]]

    def to(self, device: str) -> Workload:
        """Move the model (and so its optimizer's parameters) and the batches to ``device``."""
        self.model.to(device)
        self.batches = [(x.to(device), y.to(device)) for x, y in self.batches]
        return self

    def step(self, i: int) -> None:
        x, y = self.batches[i % len(self.batches)]
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.optimizer.step()


#: Batch sizes are multiplied by this (``--batch-scale``; a GPU needs larger batches to be busy).
BATCH_SCALE = {"factor": 1}


def _batch(size: int) -> int:
    return size * BATCH_SCALE["factor"]


def _classification_batches(shape: tuple[int, ...], classes: int, batch: int, n: int = 4) -> list:
    gen = torch.Generator().manual_seed(0)
    batch = _batch(batch)
    return [
        (torch.randn(batch, *shape, generator=gen), torch.randint(0, classes, (batch,), generator=gen))
        for _ in range(n)
    ]


def mlp() -> Workload:
    """MLP on tabular data: 64 features, two hidden layers of 256, 10 classes, batch 128."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return Workload("mlp", model, opt, nn.CrossEntropyLoss(), _classification_batches((64,), 10, 128))


def cnn() -> Workload:
    """CNN on 28x28 single-channel images, batch 64."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return Workload("cnn", model, opt, nn.CrossEntropyLoss(), _classification_batches((1, 28, 28), 10, 64))


class _TransformerClassifier(nn.Module):
    def __init__(self, vocab: int = 100, d_model: int = 64, classes: int = 4) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead=4, dim_feedforward=128, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens)).mean(dim=1))


def transformer() -> Workload:
    """A 2-layer transformer encoder (d_model 64, 4 heads) classifying token sequences of length 32."""
    torch.manual_seed(0)
    model = _TransformerClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    batches = [
        (torch.randint(0, 100, (_batch(64), 32), generator=gen),
         torch.randint(0, 4, (_batch(64),), generator=gen))
        for _ in range(4)
    ]
    return Workload("transformer", model, opt, nn.CrossEntropyLoss(), batches)


class _LSTMClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(16, 64, batch_first=True)
        self.head = nn.Linear(64, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def lstm() -> Workload:
    """An LSTM (16 -> 64) over sequences of 30 steps, batch 64, 5 classes."""
    torch.manual_seed(0)
    model = _LSTMClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return Workload("lstm", model, opt, nn.CrossEntropyLoss(), _classification_batches((30, 16), 5, 64))


TORCH_WORKLOADS: dict[str, Callable[[], Workload]] = {
    "mlp": mlp,
    "cnn": cnn,
    "transformer": transformer,
    "lstm": lstm,
}
