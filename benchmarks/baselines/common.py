"""Helpers shared by the baseline rule sets: epochs, layer order, findings carrying a ranked answer.

Baseline rules are pure functions ``(trace, model, config) -> [Finding]`` like deeplocalize's detectors, so
they replay through the same ``Monitor``. A baseline's answer (its ranked root-cause categories) travels in
``Finding.causes``; the moment it fired is the finding's ``detected_at``. Baselines know no warnings: every
finding of theirs is a fault.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from deeplocalize import summary as sm
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import LayerInfo, ModelInfo
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Severity, Symptom

#: "Identical" for values that are float32 reductions: equal within float32 resolution.
IDENTICAL_RTOL = 1e-6


def finding(symptom: Symptom, phase: Phase, layer: LayerInfo | None, step: int, message: str,
            categories: Sequence[Category | str] = (), detected_at: int | None = None) -> Finding:
    """A finding whose causes are the baseline's ranked categories (weights 1, 1/2, 1/3, ...)."""
    causes = [CauseHint(Category(c), 1.0 / (i + 1), "", None if layer is None else layer.ref)
              for i, c in enumerate(dict.fromkeys(categories))]
    return Finding(symptom, phase, None if layer is None else layer.ref, step, message, causes=causes,
                   severity=Severity.FAULT, detected_at=step if detected_at is None else detected_at)


def layers_in_order(trace: Trace, model: ModelInfo) -> list[LayerInfo]:
    """The model's layers in forward order (synthesized from the trace when the model lists none)."""
    if model.layers:
        return sorted(model.layers, key=lambda layer: layer.index)
    return [LayerInfo(index=i, name=f"layer_{i}", type="?") for i in trace.layers()]


def identical(values: np.ndarray) -> bool:
    """All values known and equal within float32 resolution."""
    if len(values) == 0 or np.isnan(values).any():
        return False
    ref = values[-1]
    return bool(np.all(np.abs(values - ref) <= IDENTICAL_RTOL * max(abs(ref), 1e-30)))


def records(trace: Trace) -> list[StepRecord]:
    """Every record so far (the replay gives baselines a history as long as the run)."""
    return trace.history()


def epoch_of(trace: Trace, model: ModelInfo) -> Callable[[StepRecord], int]:
    """How to number epochs: the probe's epochs when they change, else ``steps_per_epoch`` (known, or inferred
    from the first batch smaller than the first one: a partial last batch ends an epoch), else all one epoch.
    Only past records are used, as a callback would."""
    epochs = trace.epochs()
    if len(epochs) and int(epochs.min()) != int(epochs.max()):
        return lambda r: r.epoch
    per_epoch = model.steps_per_epoch or _infer_steps_per_epoch(trace)
    if per_epoch:
        return lambda r: (r.step - 1) // per_epoch
    return lambda r: r.epoch


def _infer_steps_per_epoch(trace: Trace) -> int | None:
    numel = trace.data()[:, sm.NUMEL]
    if len(numel) < 2 or np.isnan(numel[0]):
        return None
    smaller = np.nonzero(numel < numel[0])[0]
    return int(trace.steps()[smaller[0]]) if len(smaller) else None


def closed_epochs(trace: Trace, model: ModelInfo, final: bool) -> list[list[StepRecord]]:
    """Records grouped by epoch, for the epochs that have ended (the last one too when ``final``)."""
    number = epoch_of(trace, model)
    groups: list[list[StepRecord]] = []
    last_id: int | None = None
    for rec in records(trace):
        eid = number(rec)
        if eid != last_id:
            groups.append([])
            last_id = eid
        groups[-1].append(rec)
    return groups if final else groups[:-1]


def epoch_started(trace: Trace, model: ModelInfo) -> bool:
    """True when the latest record is the first batch of an epoch (the first record included)."""
    recs = records(trace)[-2:]
    if len(recs) < 2:
        return len(recs) == 1
    number = epoch_of(trace, model)
    return number(recs[-1]) != number(recs[-2])


def just_closed(trace: Trace, model: ModelInfo, final: bool) -> list[list[StepRecord]] | None:
    """The closed epochs when one has just ended (at this step, or at the end of the run), else None."""
    if trace.steps_observed == 0:
        return None
    if final:
        return closed_epochs(trace, model, final=True)
    if trace.steps_observed >= 2 and epoch_started(trace, model):
        return closed_epochs(trace, model, final=False)
    return None


def epoch_loss(group: Sequence[StepRecord]) -> float | None:
    """Mean of the batch losses of an epoch (as Keras logs it); NaN if any batch loss is non-finite."""
    losses = [r.loss for r in group if r.loss is not None]
    if not losses:
        return None
    return float(np.mean(losses))


def epoch_metric(group: Sequence[StepRecord], name: str) -> float | None:
    values = [r.metrics[name] for r in group if name in r.metrics and r.metrics[name] is not None]
    return float(np.mean(values)) if values else None


def stat(record: StepRecord, layer: int, channel: Channel, name: str) -> float:
    vec = record.get(layer, channel)
    return math.nan if vec is None else float(vec[sm.IDX[name]])


def has_nonfinite(record: StepRecord, layer: int, channel: Channel) -> bool:
    vec = record.get(layer, channel)
    return vec is not None and not sm.is_finite(vec)
