"""Healthy: a nanoGPT-style character model (2 pre-norm blocks, d=64, 4 heads), AdamW with warmup and
cosine decay, fp32.
"""

from __future__ import annotations

from benchmarks.zoo import data, lm
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_lm_healthy_fp32",
    framework="torch",
    kind="healthy",
    arch="transformer",
    task="language_model",
    description=(
        "nanoGPT-style character model (2 pre-norm blocks, d=64, 4 heads), AdamW with warmup and cosine "
        "decay, fp32."
    ),
    suite="transformer",
)


def run(variant: str, seed: int) -> dict:
    data.require_healthy(variant)
    return lm.train(lm.Setup(), seed)
