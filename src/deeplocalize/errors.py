"""Exceptions of the public API."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deeplocalize.diagnosis import Diagnosis


class DeepLocalizeError(Exception):
    """Base class of the errors deeplocalize raises on purpose."""


class FaultDetected(DeepLocalizeError):  # noqa: N818 - the name is part of the public API
    """Raised into the training loop when ``on_fault="raise"`` and a fault is confirmed."""

    def __init__(self, diagnosis: Diagnosis) -> None:
        self.diagnosis = diagnosis
        first = diagnosis.findings[0].message if diagnosis.findings else "fault detected"
        super().__init__(first)


class StopTraining(BaseException):
    """Raised by a probe to end the user's training loop when ``on_fault="stop"``.

    It derives from BaseException so that a user's ``except Exception`` does not swallow it; ``watch``
    (and the CLI) catch it, so the user's code after the ``with`` block runs.
    """


class StoreError(DeepLocalizeError):
    """A stored run is missing or unreadable."""


class StoreUnavailableError(StoreError):
    """The store cannot be opened or written for a reason outside its content: disk full, read-only
    directory or file, a lock held by another process, permissions, an I/O error."""


class PartiallyWatchedJobError(DeepLocalizeError):
    """Not every rank of a distributed job is watched: faults are reported, but no rank is stopped (one that
    stopped alone would leave the others waiting in their next collective)."""


class RankLostError(DeepLocalizeError):
    """A rank of a distributed job disappeared (killed, crashed): the others fail in their next collective."""
