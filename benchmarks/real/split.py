"""The calibration / test split of the real-world benchmark, fixed before any tuning.

A program's half depends on its id alone: the first byte of the SHA-256 of the id, even -> "test", odd ->
"calibration". Thresholds and rules may be tuned on the bug zoo and the calibration half only; the test half
is what the headline figures report. This rule was committed before any case was ported, and never changes.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Half = Literal["test", "calibration"]


def half(case_id: str) -> Half:
    """The half a real-world program belongs to (see the module docstring)."""
    return "test" if hashlib.sha256(case_id.encode("utf-8")).digest()[0] % 2 == 0 else "calibration"
