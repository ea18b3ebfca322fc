"""nn.NLLLoss applied to raw linear outputs (no LogSoftmax): NLLLoss just negates the target entry, so the
loss is unbounded below; the optimizer inflates every logit instead of separating the classes.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_mlp_nll_loss_on_logits",
    framework="torch",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="nn.NLLLoss on raw logits of layer `out` (missing LogSoftmax); fixed: LogSoftmax output.",
    categories=("loss", "activation"),
    layer="out",
    symptoms=("activation_loss_mismatch", "exploding_tensor", "accuracy_not_increasing"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.classification(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    # the bug: NLLLoss expects log-probabilities; without LogSoftmax the loss has no lower bound
    model = common.mlp(20, [64], 4, output=None if data.is_buggy(variant) else nn.LogSoftmax(dim=1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = common.fit(model, nn.NLLLoss(), optimizer, x, y, epochs=10)
    return common.classification_outcome(model, losses, xt, y_test)
