"""Every weight drawn from N(0, 2^2) ("a wider init explores more"): activations grow tenfold per layer, the
logits are in the thousands, the first updates are enormous, most ReLUs die and the CNN stays at chance.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_cnn_huge_init",
    framework="torch",
    kind="bug",
    arch="cnn",
    task="multiclass",
    description="Conv and linear weights initialized with std 2.0 (from `conv1` on); fixed: default init.",
    categories=("initialization",),
    layer="conv1",
    symptoms=("poor_initialization", "exploding_tensor", "exploding_gradient", "dead_units"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed, images=True)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    model = common.cnn(10, channels=(16, 32))
    if data.is_buggy(variant):  # the bug: std 2.0 instead of ~1/sqrt(fan_in)
        for module in model.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.normal_(module.weight, std=2.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=8)
    return common.classification_outcome(model, losses, xt, y_test)
