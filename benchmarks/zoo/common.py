"""PyTorch helpers shared by the zoo cases: model builders, a plain training loop, prediction.

Layer names follow the layer identity of docs/architecture.md (qualified names from ``named_modules()``):
the builders use ``nn.Sequential`` with named children, so the layers are ``fc1``, ``act1``, ..., ``out``
(and ``out_act`` when an output activation is given), or ``conv1``, ``act1``, ``pool1``, ... for the CNN.
A case whose bug lives in the training loop itself writes its own loop instead of calling :func:`fit`.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from benchmarks.zoo import data

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def tensors(*arrays: np.ndarray) -> list[torch.Tensor]:
    return [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]


def mlp(
    n_in: int,
    hidden: Sequence[int],
    n_out: int,
    activation: Callable[[], nn.Module] | None = nn.ReLU,
    output: nn.Module | None = None,
    dropout: float = 0.0,
    batchnorm: bool = False,
) -> nn.Sequential:
    """``fc1, [bn1], act1, [drop1], fc2, ..., out, [out_act]``; ``activation=None`` builds a linear stack."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    width = n_in
    for i, units in enumerate(hidden, start=1):
        layers[f"fc{i}"] = nn.Linear(width, units)
        if batchnorm:
            layers[f"bn{i}"] = nn.BatchNorm1d(units)
        if activation is not None:
            layers[f"act{i}"] = activation()
        if dropout:
            layers[f"drop{i}"] = nn.Dropout(dropout)
        width = units
    layers["out"] = nn.Linear(width, n_out)
    if output is not None:
        layers["out_act"] = output
    return nn.Sequential(layers)


def cnn(
    n_out: int,
    channels: Sequence[int] = (8, 16),
    activation: Callable[[], nn.Module] = nn.ReLU,
    output: nn.Module | None = None,
) -> nn.Sequential:
    """A small CNN for 1x8x8 images: ``conv1, act1, pool1, conv2, act2, pool2, flatten, out, [out_act]``."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    width, size = 1, 8
    for i, c in enumerate(channels, start=1):
        layers[f"conv{i}"] = nn.Conv2d(width, c, kernel_size=3, padding=1)
        layers[f"act{i}"] = activation()
        layers[f"pool{i}"] = nn.MaxPool2d(2)
        width, size = c, size // 2
    layers["flatten"] = nn.Flatten()
    layers["out"] = nn.Linear(width * size * size, n_out)
    if output is not None:
        layers["out_act"] = output
    return nn.Sequential(layers)


class RecurrentClassifier(nn.Module):
    """An LSTM or GRU over (batch, time, features) sequences; the last step's state feeds ``out``."""

    def __init__(
        self, n_in: int, n_out: int, hidden: int = 32, cell: str = "lstm", output: nn.Module | None = None
    ) -> None:
        super().__init__()
        rnn_type = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn_type(n_in, hidden, batch_first=True)
        self.out = nn.Linear(hidden, n_out)
        self.out_act = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sequence, _ = self.rnn(x)
        y = self.out(sequence[:, -1, :])
        return self.out_act(y) if self.out_act is not None else y


def batches(n: int, batch_size: int) -> Iterator[torch.Tensor]:
    """Shuffled index batches over ``n`` samples (drawn from torch's global generator, so seeded)."""
    order = torch.randperm(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    batch_size: int = 32,
) -> list[float]:
    """The ordinary mini-batch loop; returns the loss of every step."""
    losses: list[float] = []
    model.train()
    for _ in range(epochs):
        for idx in batches(len(x), batch_size):
            optimizer.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    model.eval()
    return model(x).numpy()


def weights_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def classification_outcome(
    model: nn.Module, losses: list[float], x_test: torch.Tensor, y_test: np.ndarray, threshold: float = 0.5
) -> dict:
    """Outcome of a binary / multi-class model: test accuracy (``threshold`` applies to a 1-column output)."""
    score = data.accuracy(predict(model, x_test), y_test, threshold)
    return data.outcome(losses, score, "accuracy", data.chance(y_test, "multiclass"), weights_finite(model))


def multilabel_outcome(
    model: nn.Module, losses: list[float], x_test: torch.Tensor, y_test: np.ndarray, threshold: float = 0.5
) -> dict:
    score = data.micro_f1(predict(model, x_test), y_test, threshold)
    return data.outcome(losses, score, "micro_f1", data.chance(y_test, "multilabel"), weights_finite(model))


def regression_outcome(
    model: nn.Module, losses: list[float], x_test: torch.Tensor, y_test: np.ndarray
) -> dict:
    score = data.r2(predict(model, x_test), y_test)
    return data.outcome(losses, score, "r2", data.chance(y_test, "regression"), weights_finite(model))
