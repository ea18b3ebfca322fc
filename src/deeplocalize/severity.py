"""Severity: which findings make a run faulty, and which are risks that have not (yet) hurt it.

A **fault** is a definite defect (NaN/Inf, an output activation that cannot reach the targets, a loss that
cannot work with its activation, weights that never change) or an
observed training failure (the loss does not decrease, accuracy stays at chance, the run diverges or learns
far too slowly, a layer whose units died or saturated and so stopped learning). A **warning** is a risk that
has not (yet) hurt the run: unscaled inputs, an unusual initialization (a zero init can be deliberate, e.g.
a residual branch), gradients that grow while the loss is fine, a loss spike the run recovers from,
overfitting.
The verdict is faulty only when a fault exists. A warning becomes a fault when a failure it explains is
observed in the same run (``EXPLAINS``); it then says which (``Finding.explains``), and so does its fix.

A detector may set a finding's severity itself (e.g. exploding gradients with the loss hurt are a fault,
without it a warning); otherwise ``DEFAULT`` decides.

A **provisional** failure (``evidence["provisional"]``: a stall or slow start judged early in a run that
has not ended, see ``Config.provisional_steps``) is a warning on its own: healthy runs often sit on a
plateau for a while before they learn. It is a fault when the run has another fault, or a warning that
explains it (which then becomes a fault too). It never stops training, and the monitor withdraws it when
its detector no longer sees it (``monitor.py``). numpy-free, stdlib only.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from deeplocalize.vocabulary import Severity, Symptom

if TYPE_CHECKING:
    from deeplocalize.diagnosis import Finding

_F, _W = Severity.FAULT, Severity.WARNING

#: The severity of a finding whose detector did not set one.
DEFAULT: dict[Symptom, Severity] = {
    Symptom.NUMERICAL_ERROR: _F,
    Symptom.EXPLODING_TENSOR: _F,
    Symptom.EXPLODING_GRADIENT: _W,  # a fault only with the loss hurt (the detector says so)
    Symptom.VANISHING_GRADIENT: _F,  # the layer stops learning
    Symptom.DEAD_UNITS: _F,  # a fault with the loss hurt or the whole layer dead (the detector says which)
    Symptom.SATURATED_ACTIVATION: _F,
    Symptom.CONSTANT_OUTPUT: _F,
    Symptom.UNCHANGED_WEIGHTS: _F,
    Symptom.LOSS_NOT_DECREASING: _F,
    Symptom.ACCURACY_NOT_INCREASING: _F,
    Symptom.OSCILLATING_LOSS: _F,  # the detector requires no downward trend; a wobbly descent is no finding
    Symptom.SLOW_CONVERGENCE: _F,
    Symptom.OUTPUT_OUT_OF_RANGE: _F,
    Symptom.UNNORMALIZED_INPUT: _W,
    Symptom.POOR_INITIALIZATION: _W,  # even a zero init can be deliberate (a residual branch, ReZero)
    Symptom.ACTIVATION_LOSS_MISMATCH: _F,
    Symptom.OVERFITTING: _W,
    Symptom.LOSS_SPIKE: _W,
    Symptom.OVERFLOW_RISK: _W,
    Symptom.LOST_UPDATES: _W,  # bf16 with a usual lr loses many updates and still learns
    Symptom.ATTENTION_COLLAPSE: _W,
    Symptom.RANK_DESYNC: _F,
    Symptom.TARGET_LEAK: _W,  # a fault once the loss is far below what the context allows (the detector)
    Symptom.BATCH_AS_SEQUENCE: _F,  # each prediction depends on the other samples of its batch
}

#: Failures observed in training (not static facts): a warning that explains one of these (``EXPLAINS``)
#: is part of the fault.
FAILURES = frozenset({
    Symptom.NUMERICAL_ERROR, Symptom.EXPLODING_TENSOR, Symptom.EXPLODING_GRADIENT, Symptom.CONSTANT_OUTPUT,
    Symptom.LOSS_NOT_DECREASING, Symptom.ACCURACY_NOT_INCREASING, Symptom.OSCILLATING_LOSS,
    Symptom.SLOW_CONVERGENCE, Symptom.DEAD_UNITS, Symptom.SATURATED_ACTIVATION, Symptom.VANISHING_GRADIENT,
    Symptom.UNCHANGED_WEIGHTS, Symptom.LOST_UPDATES,
})
_STALLS = frozenset({Symptom.LOSS_NOT_DECREASING, Symptom.ACCURACY_NOT_INCREASING, Symptom.SLOW_CONVERGENCE,
                     Symptom.CONSTANT_OUTPUT})
_DIVERGES = frozenset({Symptom.NUMERICAL_ERROR, Symptom.EXPLODING_TENSOR, Symptom.EXPLODING_GRADIENT,
                       Symptom.OSCILLATING_LOSS})

#: Which observed failures each warning can explain (the mechanism, in a word, beside each).
EXPLAINS: dict[Symptom, frozenset[Symptom]] = {
    Symptom.UNNORMALIZED_INPUT: FAILURES,  # large inputs saturate, kill units, blow up early updates
    Symptom.POOR_INITIALIZATION: FAILURES,  # too large: divergence, dead units; too small: no signal
    Symptom.DEAD_UNITS: _STALLS,  # dead units pass no gradient
    Symptom.SATURATED_ACTIVATION: _STALLS,  # saturated units pass almost none
    Symptom.VANISHING_GRADIENT: _STALLS,
    Symptom.EXPLODING_GRADIENT: _DIVERGES | {Symptom.LOSS_NOT_DECREASING},
    Symptom.LOSS_SPIKE: _DIVERGES | {Symptom.LOSS_NOT_DECREASING},
    Symptom.OVERFLOW_RISK: frozenset({Symptom.NUMERICAL_ERROR, Symptom.EXPLODING_TENSOR}),
    Symptom.LOST_UPDATES: _STALLS | {Symptom.UNCHANGED_WEIGHTS},  # updates rounded away: no progress
    Symptom.ATTENTION_COLLAPSE: _STALLS,
    Symptom.OVERFITTING: frozenset(),  # a generalization issue: training itself may be fine
    # (as a warning: regression targets far out of the initial outputs' scale) steps too small or too large
    Symptom.OUTPUT_OUT_OF_RANGE: FAILURES,
}


def base_severity(finding: Finding) -> Severity:
    """The detector's severity, else the default for its symptom."""
    if finding.severity is not None:
        return Severity(finding.severity)
    return DEFAULT.get(Symptom(finding.symptom), _F)


def is_provisional(finding: Finding) -> bool:
    return finding.evidence.get("provisional") is True


def resolve(findings: list[Finding]) -> list[Finding]:
    """Copies of ``findings`` with their effective severity (same order).

    A warning is escalated to a fault when a failure it explains was observed (a fault, or a provisional
    one); the copy lists those symptoms in ``explains``. A provisional failure is a fault when any other
    finding is (after that escalation).
    """
    failures = {Symptom(f.symptom) for f in findings if Symptom(f.symptom) in FAILURES
                and (base_severity(f) == _F or is_provisional(f))}
    resolved: list[Finding | None] = []
    for finding in findings:
        if is_provisional(finding):
            resolved.append(None)
            continue
        severity = base_severity(finding)
        explains: tuple[str, ...] = ()
        if severity == _W:
            seen = sorted(str(s) for s in EXPLAINS.get(Symptom(finding.symptom), frozenset()) & failures)
            if seen:
                severity, explains = _F, tuple(seen)
        resolved.append(dataclasses.replace(finding, severity=severity, explains=explains))
    firm_fault = any(f is not None and f.severity == _F for f in resolved)
    return [f if f is not None else dataclasses.replace(finding, severity=_F if firm_fault else _W)
            for f, finding in zip(resolved, findings, strict=True)]


def any_fault(findings: list[Finding]) -> bool:
    """True when the findings make the run faulty (after escalation)."""
    return any(f.severity == _F for f in resolve(findings))
