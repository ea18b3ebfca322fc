"""A 6-block post-norm stack (LayerNorm after each residual add, the original Transformer) trained at lr
1e-2 without warmup: it does not get off the ground (Xiong et al. 2020). Fix: pre-norm blocks
(nanoGPT's).
"""

from __future__ import annotations

from dataclasses import replace

from benchmarks.zoo import data, lm
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_lm_post_norm_no_warmup",
    framework="torch",
    kind="bug",
    arch="transformer",
    task="language_model",
    description=(
        "A 6-block post-norm stack (LayerNorm after each residual add, the original Transformer) trained "
        "at lr 1e-2 without warmup: it does not get off the ground (Xiong et al. 2020). Fix: pre-norm "
        "blocks (nanoGPT's)."
    ),
    categories=("architecture", "learning_rate"),
    layer=None,
    symptoms=("loss_not_decreasing",),
    premise="worse",
    suite="transformer",
)


def run(variant: str, seed: int) -> dict:
    buggy = data.is_buggy(variant)
    fixed = lm.Setup(n_layer=6, lr=1e-2, warmup=0, steps=400)
    setup = replace(fixed, norm_first=False) if buggy else fixed
    return lm.train(setup, seed)
