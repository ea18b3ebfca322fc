"""The model cast to float16 (model.half()) and trained without fp32 master weights or a loss scaler:
AdamW's epsilon and small second moments underflow in float16 and the updates turn Inf/NaN. Fix: fp32
weights under fp16 autocast with a GradScaler.
"""

from __future__ import annotations

from benchmarks.zoo import data, lm
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_lm_fp16_weights_without_scaler",
    framework="torch",
    kind="bug",
    arch="transformer",
    task="language_model",
    description=(
        "The model cast to float16 (model.half()) and trained without fp32 master weights or a loss "
        "scaler: AdamW's epsilon and small second moments underflow in float16 and the updates turn "
        "Inf/NaN. Fix: fp32 weights under fp16 autocast with a GradScaler."
    ),
    categories=("optimizer", "training"),
    layer=None,
    symptoms=("numerical_error",),
    premise="nan",
    suite="transformer",
)


def run(variant: str, seed: int) -> dict:
    buggy = data.is_buggy(variant)
    setup = lm.Setup(precision="fp16_weights" if buggy else "fp16", steps=150)
    return lm.train(setup, seed)
