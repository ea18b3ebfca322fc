"""A multi-label head with Softmax + BCELoss: softmax makes the labels compete (they sum to 1), so a sample
with three true labels can never have all three above 0.5. Fixed: Sigmoid (independent labels).
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_mlp_multilabel_softmax_output",
    framework="torch",
    kind="bug",
    arch="mlp",
    task="multilabel",
    description="Multi-label output `out_act` is Softmax with BCELoss; fixed: Sigmoid.",
    categories=("activation", "loss"),
    layer="out_act",
    symptoms=("activation_loss_mismatch", "output_out_of_range"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.multilabel(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    head = nn.Softmax(dim=1) if data.is_buggy(variant) else nn.Sigmoid()  # the bug: labels are not exclusive
    model = common.mlp(20, [64], 6, output=head)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    losses = common.fit(model, nn.BCELoss(), optimizer, x, y, epochs=20)
    return common.multilabel_outcome(model, losses, xt, y_test)
