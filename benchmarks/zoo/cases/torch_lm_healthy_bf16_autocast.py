"""Healthy: the same model trained under bf16 autocast (fp32 weights), as nanoGPT does on hardware with
bf16.
"""

from __future__ import annotations

from benchmarks.zoo import data, lm
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_lm_healthy_bf16_autocast",
    framework="torch",
    kind="healthy",
    arch="transformer",
    task="language_model",
    description=(
        "The same model trained under bf16 autocast (fp32 weights), as nanoGPT does on hardware with "
        "bf16."
    ),
    suite="transformer",
)


def run(variant: str, seed: int) -> dict:
    data.require_healthy(variant)
    return lm.train(lm.Setup(precision="bf16"), seed)
