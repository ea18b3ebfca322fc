"""The shape of one bug-zoo case.

A case module in ``benchmarks/zoo/cases/`` defines ``CASE: Case`` and
``run(variant: str, seed: int) -> dict``: an ordinary training program (it never mentions deeplocalize) that
trains the "buggy" or "fixed" variant (healthy-suite cases: only "healthy") on generated or scikit-learn
bundled data and returns its outcome, e.g. ``{"loss": 0.12, "metric": 0.97, "metric_name": "accuracy",
"nan": False}``. Each variant runs in a few seconds on this machine (under 30 s at most).

The benchmark runs ``run`` under deeplocalize's global instrumentation (as ``deeplocalize run`` does) and
under each baseline, and scores the result against the ground truth below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Framework = Literal["torch", "keras"]
Kind = Literal["bug", "healthy"]

#: premise "spike": the least jump of the loss over the median of the 20 steps before it.
SPIKE_RATIO = 2.0


@dataclass(frozen=True)
class Case:
    id: str  # unique, e.g. "torch_mlp_lr_too_high"
    framework: Framework
    kind: Kind  # "bug" (buggy + fixed variants) or "healthy" (one variant: "healthy")
    arch: str  # "mlp", "cnn", "rnn", "resnet", "transformer", "autoencoder", ...
    task: str  # "binary", "multiclass", "multilabel", "regression", "language_model"
    description: str
    #: Every valid root-cause category (vocabulary.Category values); empty for healthy cases.
    categories: tuple[str, ...] = ()
    #: Name of the faulty layer per the layer identity of docs/architecture.md (torch: qualified module
    #: name; Keras: layer.name), or None when no layer is at fault (loss, optimizer, data).
    layer: str | None = None
    #: Symptoms a good diagnosis is expected to report (informational, not scored).
    symptoms: tuple[str, ...] = ()
    #: How the buggy variant fails, checked by the premise test: "nan" (loss or weights become non-finite)
    #: or "worse" (final metric clearly worse than the fixed twin's).
    #: "spike": the buggy run's loss jumps at least ``SPIKE_RATIO`` times the median of the 20 steps before
    #: it (the outcome's ``spike``) and its fixed twin's never does.
    premise: Literal["nan", "worse", "spike"] = "worse"
    #: "fault": the buggy variant is detected when it is diagnosed faulty; "warning": a bug a run survives
    #: looking healthy (one corrupt batch), detected by a warning with one of ``symptoms`` (or a fault)
    expect: Literal["fault", "warning"] = "fault"
    #: The benchmark table the case is scored in: the bug zoo, or the transformer zoo
    #: (``--suite transformer``).
    suite: Literal["zoo", "transformer"] = "zoo"

    @property
    def variants(self) -> tuple[str, ...]:
        return ("buggy", "fixed") if self.kind == "bug" else ("healthy",)
