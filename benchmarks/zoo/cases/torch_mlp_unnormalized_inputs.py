"""Raw breast-cancer features (areas in the thousands next to ratios below 1) fed to an MLP trained with SGD:
the first layer's pre-activations are huge, the first updates are enormous, and the model ends up
predicting one class.
Fixed: standardize the features on the training split.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.zoo import common, data
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_mlp_unnormalized_inputs",
    framework="torch",
    kind="bug",
    arch="mlp",
    task="binary",
    description="Unscaled inputs (values up to ~4000) into an SGD-trained MLP; fixed: standardized features.",
    categories=("data",),
    layer=None,
    symptoms=("unnormalized_input", "exploding_gradient", "dead_units", "constant_output"),
    premise="worse",
)


def run(variant: str, seed: int) -> dict:
    common.seed_everything(seed)
    # the bug: the raw features are used as they are
    x_train, x_test, y_train, y_test = data.breast_cancer(seed, standardize=not data.is_buggy(variant))
    x, y, xt = common.tensors(x_train, y_train.astype("float32"), x_test)
    model = common.mlp(30, [32, 32], 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.BCEWithLogitsLoss()
    losses = common.fit(model, lambda out, t: loss_fn(out.squeeze(1), t), optimizer, x, y, epochs=20)
    return common.classification_outcome(model, losses, xt, y_test, threshold=0.0)
