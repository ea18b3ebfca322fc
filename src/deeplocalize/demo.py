"""The bundled buggy training run behind ``deeplocalize demo``.

An ordinary PyTorch program that never mentions deeplocalize: a 3-layer ReLU MLP learns scikit-learn's 8x8
handwritten digits (pixels scaled to [0, 1], cross-entropy) with Adam. The bug is a classic one: a learning
rate of 0.3, three hundred times Adam's usual 1e-3. The first updates are so large that every unit of the
first ReLU layer is pushed below zero for every input and never recovers ("dying ReLU"), so the network stops
learning: its accuracy stays at chance. (At lr=0.1 most units die but the rest still learn, 77% training
accuracy against 89%: deeplocalize reports that as a warning, not a fault.) ``fixed=True`` trains with
lr = 1e-3. Without scikit-learn, seeded synthetic digit-like data of the same shape is used.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

BUGGY_LR = 0.3
FIXED_LR = 1e-3
BATCH = 32
EPOCHS = 4


def require() -> None:
    """ImportError when PyTorch is not installed."""
    import torch  # noqa: F401


def describe(fixed: bool = False) -> str:
    """What the demo trains, for the console."""
    lr = FIXED_LR if fixed else BUGGY_LR
    what = "the corrected model" if fixed else "a model with a bug"
    return (f"deeplocalize demo: training {what}: a 3-layer ReLU MLP (PyTorch) on {data_source()}, "
            f"cross-entropy, Adam with lr={lr:g}.")


def data_source() -> str:
    try:
        import sklearn.datasets  # noqa: F401
    except ImportError:
        return "synthetic 8x8 digit-like images (scikit-learn not installed)"
    return "scikit-learn's 8x8 handwritten digits"


def load_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(pixels 0..16 float32 of shape (n, 64), integer labels 0..9)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        rng = np.random.default_rng(seed)
        prototypes = rng.uniform(0, 16, size=(10, 64))
        labels = rng.integers(0, 10, size=1797)
        pixels = np.clip(prototypes[labels] + rng.normal(0, 3, size=(1797, 64)), 0, 16)
        return pixels.astype(np.float32), labels.astype(np.int64)
    pixels, labels = load_digits(return_X_y=True)
    return pixels.astype(np.float32), labels.astype(np.int64)


def train(fixed: bool = False, epochs: int = EPOCHS, seed: int = 0) -> dict[str, Any]:
    """Train the demo network; returns the last loss and the training accuracy."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    pixels, labels = load_data(seed)
    x = torch.from_numpy(pixels / 16.0)
    y = torch.from_numpy(labels)
    model = nn.Sequential(OrderedDict(
        fc1=nn.Linear(64, 32), relu1=nn.ReLU(),
        fc2=nn.Linear(32, 32), relu2=nn.ReLU(),
        out=nn.Linear(32, 10),
    ))
    optimizer = torch.optim.Adam(model.parameters(), lr=FIXED_LR if fixed else BUGGY_LR)
    order = torch.Generator().manual_seed(seed)
    loss = torch.tensor(float("nan"))
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=order)
        for start in range(0, len(x), BATCH):
            idx = perm[start : start + BATCH]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        accuracy = float((model(x).argmax(dim=1) == y).float().mean())
    return {"loss": float(loss.detach()), "accuracy": accuracy}


if __name__ == "__main__":
    print(train())
