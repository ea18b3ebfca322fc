"""Every threshold and cadence of deeplocalize, in one dataclass.

Each field carries its default, its unit and where the default comes from (a prior tool in
../shared/KNOWLEDGE.md, or our own calibration on the bug zoo and the healthy suite together).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Config:
    """Thresholds and cadences. Override any of them: ``Config(loss_window=20)`` or ``config.replace(...)``."""

    # ---------------------------------------------------------------- probing cadence and bounds
    #: Steps between full statistics (min/max/mean/std/norm/zero/dead/saturation). Non-finite counts and
    #: the loss are read every step regardless, so NaN/Inf latency stays 0 steps. Own calibration (overhead).
    stats_every: int = 1
    #: Steps between runs of the trend detectors (the per-step numerical checks run every step).
    check_every: int = 10
    #: Steps kept in full in the in-process trace.
    window: int = 512
    #: Older steps kept, down-sampled (the stride doubles when full).
    history: int = 512
    #: Fewer steps than this and no finding: the verdict is "inconclusive", never "healthy" or "faulty".
    min_steps_for_verdict: int = 20

    # ---------------------------------------------------------------- detector thresholds (see detectors/)
    extra: dict[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (unknown names raise TypeError)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Config:
        """Build from a dict, ignoring names this version does not know (old stored runs)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]
