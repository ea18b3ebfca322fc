"""Healthy: a small nn.TransformerEncoder classifier (Conv1d token embedding, learned positions), AdamW."""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_healthy_transformer",
    framework="torch",
    kind="healthy",
    arch="transformer",
    task="multiclass",
    description="Conv1d embedding + learned positions, 1-layer TransformerEncoder (d=32, 4 heads), mean.",
)


class WaveTransformer(nn.Module):
    def __init__(self, length: int, d_model: int = 32, n_out: int = 3) -> None:
        super().__init__()
        self.embed = nn.Conv1d(1, d_model, kernel_size=5, padding=2)
        self.position = nn.Parameter(0.02 * torch.randn(1, length, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model, nhead=4, dim_feedforward=64, dropout=0.1, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.out = nn.Linear(d_model, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x.transpose(1, 2)).transpose(1, 2)  # (batch, time, d_model)
        return self.out(self.encoder(tokens + self.position).mean(dim=1))


def run(variant: str, seed: int) -> dict:
    data.require_healthy(variant)
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.waves(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = WaveTransformer(x.shape[1])
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.002)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=6)
    return common.classification_outcome(model, losses, xt, y_test)
