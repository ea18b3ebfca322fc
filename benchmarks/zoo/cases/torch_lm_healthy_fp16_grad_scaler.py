"""Healthy: the same model under fp16 autocast with a GradScaler (its first steps overflow and are skipped
by design); 150 steps (fp16 matmuls are slow on a CPU).
"""

from __future__ import annotations

from benchmarks.zoo import data, lm
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_lm_healthy_fp16_grad_scaler",
    framework="torch",
    kind="healthy",
    arch="transformer",
    task="language_model",
    description=(
        "The same model under fp16 autocast with a GradScaler (its first steps overflow and are skipped "
        "by design); 150 steps (fp16 matmuls are slow on a CPU)."
    ),
    suite="transformer",
)


def run(variant: str, seed: int) -> dict:
    data.require_healthy(variant)
    return lm.train(lm.Setup(precision="fp16", steps=150), seed)
