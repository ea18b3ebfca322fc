"""Detectors: one module per symptom family, each a pure function ``(trace, model, config) -> [Finding]``.

No framework code here (numpy and the standard library only). ``DETECTORS`` lists them with their cadence:
- ``"step"``: runs after every step; must be cheap (looks at the last record only), e.g. NaN/Inf.
- ``"check"``: runs every ``config.check_every`` steps and once at the end, over the trace window.
- ``"first"``: pre-flight, runs once when the first step has been recorded (model facts, first batch).

A detector registered with ``refreshes=True`` sums up its whole window in its finding (every loss spike
so far): a later check replaces that finding rather than keeping the first one.

A detector registered with ``reads_curve=True`` judges the loss (or accuracy) curve as a sign of learning.
Such curves mean nothing for a model trained against another (a GAN's generator and discriminator: their
losses are meant to stay level or swing), nor for a model whose loss chases targets it makes itself
(value-based reinforcement learning with a target network, a copy of the model loaded with its weights: the
TD loss may rise as the values grow), nor for a surrogate objective (a policy gradient weighted by
advantages, as often negative as positive: ``_curve.surrogate_loss``), so the monitor skips these detectors
for a model whose facts say ``extra["adversarial"]``, ``extra["target_network"]`` or ``extra["self_fed"]``
(it runs without gradients between most of its steps: its own outputs make its data or its targets, a
policy's rollouts, TD targets bootstrapped without a target network), and while the losses change sign.
Nor for the other models of a script in which one model's loss changes sign or stays below zero
(``_curve.maximized_objective``: PPO's clipped surrogate, an actor's ``-Q``): a critic's targets there are
the returns of a policy that improves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from deeplocalize.config import Config
from deeplocalize.diagnosis import Finding
from deeplocalize.model import ModelInfo
from deeplocalize.trace import Trace

DetectorFn = Callable[[Trace, ModelInfo, Config], list[Finding]]
Cadence = Literal["step", "check", "first"]


@dataclass(frozen=True)
class Detector:
    name: str
    run: DetectorFn
    cadence: Cadence
    reads_curve: bool = False
    refreshes: bool = False


DETECTORS: list[Detector] = []


def register(name: str, cadence: Cadence, reads_curve: bool = False,
             refreshes: bool = False) -> Callable[[DetectorFn], DetectorFn]:
    """Decorator adding a detector function to ``DETECTORS``."""

    def wrap(fn: DetectorFn) -> DetectorFn:
        DETECTORS.append(Detector(name, fn, cadence, reads_curve, refreshes))
        return fn

    return wrap


def load_all() -> list[Detector]:
    """Import every detector module (registration happens on import) and return the registry."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return DETECTORS
