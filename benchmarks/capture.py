"""What one benchmark run of one case variant leaves behind, and how it is stored (pickle).

A ``Capture`` holds every ``StepRecord`` of the run (all statistics, every step), the model facts, a
wall-clock timestamp per step (seconds since the program started), the program's own outcome and errors,
and the diagnosis deeplocalize reached online. Anomaly-mode runs fill ``anomaly`` instead of records.
Records are packed as one matrix per step (far smaller and faster to pickle than one array per tensor).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deeplocalize.model import ModelInfo
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Channel

PackedRecord = tuple[int, int, float | None, dict[str, float], float | None, tuple, np.ndarray | None,
                     np.ndarray | None, np.ndarray | None]


@dataclass
class AnomalyResult:
    """Outcome of a run under ``torch.autograd.detect_anomaly``."""

    fired: bool
    step: int | None = None  # the optimizer step in progress when it raised (from 1)
    seconds: float | None = None  # since the program started
    op: str | None = None  # the autograd function it names, e.g. "DivBackward0"
    message: str | None = None


@dataclass
class Capture:
    """One run of one variant of one case."""

    case_id: str
    variant: str
    seed: int
    mode: str  # "probe" | "anomaly"
    records: list[StepRecord] = field(default_factory=list)
    timestamps: list[float] = field(default_factory=list)  # per record, seconds since program start
    model: ModelInfo | None = None
    outcome: dict[str, Any] | None = None
    error: str | None = None  # the program's own exception (or "timeout"), if any
    online: dict[str, Any] | None = None  # Diagnosis.to_dict() of the online (continue-policy) monitor
    wall_s: float = 0.0
    anomaly: AnomalyResult | None = None

    def seconds_at(self, step: int | None) -> float | None:
        """Seconds from program start to the end of ``step`` (None if unknown)."""
        if step is None:
            return None
        for record, stamp in zip(self.records, self.timestamps, strict=False):
            if record.step >= step:
                return stamp
        return self.timestamps[-1] if self.timestamps else None


def pack(record: StepRecord) -> PackedRecord:
    """A StepRecord as plain tuples and one stacked matrix."""
    keys = tuple((int(k[0]), str(k[1])) for k in record.stats)
    matrix = np.stack(list(record.stats.values())) if record.stats else None
    return (record.step, record.epoch, record.loss, dict(record.metrics), record.lr, keys, matrix,
            record.data, record.target)


def unpack(packed: PackedRecord) -> StepRecord:
    step, epoch, loss, metrics, lr, keys, matrix, data, target = packed
    stats = {} if matrix is None else {
        (layer, Channel(channel)): matrix[i].copy() for i, (layer, channel) in enumerate(keys)
    }
    return StepRecord(step=step, epoch=epoch, loss=loss, metrics=metrics, lr=lr, stats=stats, data=data,
                      target=target)


def save(capture: Capture, path: Path) -> None:
    """Pickle a capture (records packed)."""
    state = dict(capture.__dict__)
    state["records"] = [pack(r) for r in capture.records]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def load(path: Path) -> Capture:
    with Path(path).open("rb") as fh:
        state = pickle.load(fh)
    state["records"] = [unpack(p) for p in state["records"]]
    return Capture(**state)
