"""A Softmax module at the end of the network, followed by nn.CrossEntropyLoss, which applies log-softmax
itself: the loss sees probabilities as logits, its gradients shrink, and training crawls.

One of the most frequent PyTorch questions ("CrossEntropyLoss already includes softmax").
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_mlp_softmax_before_cross_entropy",
    framework="torch",
    kind="bug",
    arch="mlp",
    task="multiclass",
    description="nn.Softmax output layer (`out_act`) before nn.CrossEntropyLoss; fixed: no softmax module.",
    categories=("loss", "activation"),
    layer="out_act",
    symptoms=("activation_loss_mismatch", "slow_convergence", "vanishing_gradient"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    x_train, x_test, y_train, y_test = data.digits(seed)
    x, y, xt = common.tensors(x_train, y_train, x_test)
    # the bug: CrossEntropyLoss expects logits, the model hands it probabilities
    model = common.mlp(64, [32], 10, output=nn.Softmax(dim=1) if data.is_buggy(variant) else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = common.fit(model, nn.CrossEntropyLoss(), optimizer, x, y, epochs=6)
    return common.classification_outcome(model, losses, xt, y_test)
