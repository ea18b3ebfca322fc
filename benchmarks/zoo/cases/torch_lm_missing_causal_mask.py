"""Self-attention without the causal mask (is_causal=False): during training every position sees the
character it must predict, the training loss falls far below what the context allows, and the model is
useless when it generates (causally). Fix: is_causal=True.
"""

from __future__ import annotations

from benchmarks.zoo import data, lm
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_lm_missing_causal_mask",
    framework="torch",
    kind="bug",
    arch="transformer",
    task="language_model",
    description=(
        "Self-attention without the causal mask (is_causal=False): during training every position sees "
        "the character it must predict, the training loss falls far below what the context allows, and "
        "the model is useless when it generates (causally). Fix: is_causal=True."
    ),
    categories=("architecture",),
    layer="transformer.h.0.attn.c_attn",  # a weightless attention module's queries and keys come from here
    symptoms=("target_leak",),
    premise="worse",
    suite="transformer",
)


def run(variant: str, seed: int) -> dict:
    buggy = data.is_buggy(variant)
    setup = lm.Setup(causal=False) if buggy else lm.Setup()
    return lm.train(setup, seed)
