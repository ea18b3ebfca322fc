"""One training batch (step 200) of uniformly random characters, as from a corrupt data shard: the loss
spikes at that step and the run recovers. Fix: drop the corrupt shard.
"""

from __future__ import annotations

from benchmarks.zoo import data, lm
from benchmarks.zoo.case import Case

CASE = Case(
    id="torch_lm_garbage_batch",
    framework="torch",
    kind="bug",
    arch="transformer",
    task="language_model",
    description=(
        "One training batch (step 200) of uniformly random characters, as from a corrupt data shard: the "
        "loss spikes at that step and the run recovers. Fix: drop the corrupt shard."
    ),
    categories=("data",),
    layer=None,
    symptoms=("loss_spike",),
    premise="spike",
    expect="warning",
    suite="transformer",
)


def run(variant: str, seed: int) -> dict:
    buggy = data.is_buggy(variant)
    setup = lm.Setup(garbage_steps=(200,)) if buggy else lm.Setup()
    return lm.train(setup, seed)
