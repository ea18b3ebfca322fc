"""The whole training set as one batch (batch_size=len(x)) for 5 epochs: 5 SGD steps in total, far too few for
the CNN to learn anything. Fixed: mini-batches of 32 (about 200 steps).
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_cnn_full_batch_few_epochs",
    framework="torch",
    kind="bug",
    arch="cnn",
    task="multiclass",
    description="Full-batch SGD for 5 epochs = 5 steps in all; fixed: batch size 32 (about 210 steps).",
    categories=("training",),
    layer=None,
    symptoms=("slow_convergence", "loss_not_decreasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed, images=True)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.cnn(10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    batch_size = len(x) if data.is_buggy(variant) else 32  # the bug: one step per epoch
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=5, batch_size=batch_size)
    return common.classification_outcome(model, losses, xt, y_test)
