"""The language model is scored against its own input window instead of the window shifted by one: each
position learns to copy its input token (the training loss falls to almost 0) and predicts nothing when it
generates. Fix: targets = the next tokens (nanoGPT's get_batch: y = data[i + 1:i + 1 + block_size]).
"""

from __future__ import annotations

from benchmarks.zoo import data, lm
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_lm_unshifted_targets",
    framework="torch",
    kind="bug",
    arch="transformer",
    task="language_model",
    description=(
        "Targets equal to the inputs (not shifted by one): each position copies its input token; the "
        "training loss falls to about 0 and generation is useless. Fix: the next tokens as targets."
    ),
    categories=("loss", "data"),
    layer=None,
    symptoms=("target_leak",),
    premise="worse",
    suite="transformer",
)


def run(variant: str, seed: int) -> dict:
    return lm.train(lm.Setup(shift_targets=not data.is_buggy(variant)), seed)
