"""A hand-written binary cross-entropy ``-(y*log(p) + (1-y)*log(1-p))`` on sigmoid outputs: once the model is
confident, p rounds to exactly 1.0 in float32, log(1-p) = -inf, 0 * -inf = NaN, and the NaN spreads to the
weights. Fixed: clamp p into [eps, 1-eps] before the logs (what nn.BCELoss does internally).
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_mlp_log_zero_in_custom_bce",
    framework="torch",
    kind="bug",
    arch="mlp",
    task="binary",
    description="Hand-written BCE takes log(0) once sigmoid saturates at 1; fixed: clamp p to [eps, 1-eps].",
    categories=("loss",),
    layer=None,
    symptoms=("numerical_error",),
    premise="nan",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.blobs(seed)
    x, y, xt = common.tensors(x_train, y_train.astype("float32"), x_test)
    model = common.mlp(10, [32, 32], 1, output=nn.Sigmoid())
    buggy = data.is_buggy(variant)

    def bce(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        p = p.squeeze(1)
        if not buggy:
            p = p.clamp(1e-7, 1 - 1e-7)  # the fix
        return -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean()

    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = common.fit(model, bce, optimizer, x, y, epochs=20)
    return common.classification_outcome(model, losses, xt, y_test)
