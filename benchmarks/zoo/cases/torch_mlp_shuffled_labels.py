"""Features and labels shuffled separately ("shuffle the training set" done on each array on its own): the
pairing is destroyed, there is nothing to learn, test accuracy stays at chance.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_mlp_shuffled_labels",
    framework="torch",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="Training images and labels shuffled with different permutations; fixed: one permutation.",
    categories=("data",),
    layer=None,
    symptoms=("loss_not_decreasing", "accuracy_not_increasing", "overfitting"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_train))
    x_train = x_train[order]
    y_train = y_train[rng.permutation(len(y_train)) if data.is_buggy(variant) else order]  # the bug
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.mlp(64, [64], 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=10)
    return common.classification_outcome(model, losses, xt, y_test)
