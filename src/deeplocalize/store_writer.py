"""Writes one run into the store as training goes (``RunWriter``; the store itself is ``store.RunStore``).

Steps are committed in batches (every ``FLUSH_STEPS`` steps or ``FLUSH_SECONDS``, and on close). Size is
bounded: every step of the recent window is kept plus a down-sampled history of older steps (the rule of
``history.StrideHistory``, as in ``trace.Trace``); older steps are deleted as the run goes. A write error
never stops training (see ``RunWriter``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from deeplocalize import store_codec
from deeplocalize.diagnosis import Diagnosis
from deeplocalize.errors import StoreError, StoreUnavailableError
from deeplocalize.history import StrideHistory
from deeplocalize.model import ModelInfo
from deeplocalize.trace import StepRecord

FLUSH_STEPS = 50
FLUSH_SECONDS = 1.0
#: How long the writer waits for a lock held by another process: per flush during training (a locked store
#: must not stall training), and at the end of a run, when the ranks of a distributed job all write their
#: last steps at once (10 s, as when opening).
STEP_BUSY_MS = 500
END_BUSY_MS = 10000
#: After a failed write the next attempt waits FLUSH_SECONDS, then twice as long each time, up to this.
RETRY_MAX_SECONDS = 60.0
#: The models of a script stored after its first (``open_model``): each keeps a connection to the store
#: open (three files) until the run ends, and a sweep that trains hundreds of models in one process must not
#: take the file handles its own code needs. Later models are diagnosed, their steps not stored.
MAX_MODELS = 32


class RunWriter:
    """Persists one run as it goes; implements ``monitor.RunRecorder``.

    A write error never stops training, and nothing is dropped that the store would have kept: the steps
    (and model facts) not written stay in memory, bounded by the same retention rule as the store, and are
    retried at later flushes (after FLUSH_SECONDS, then twice as long each time, up to RETRY_MAX_SECONDS).
    The first failure is raised once (the Monitor records it in ``tool_errors``); ``write_diagnosis`` raises
    once more if, at the end, the run could still not be stored completely. ``error`` is the last write
    error not yet overcome (None when everything so far is stored); ``complete`` is True once the diagnosis
    and every retained step are in the store.
    """

    def __init__(self, conn: sqlite3.Connection, run_id: str, window: int = 512, history: int = 512) -> None:
        self.run_id = run_id
        self.complete = False
        self._steps_reason: str | None = None  # why the steps (or model facts) could not be written
        self._diagnosis_reason: str | None = None  # why the diagnosis could not be written
        self._conn: sqlite3.Connection | None = conn
        self._lock = threading.RLock()
        self._pending: dict[int, StepRecord] = {}  # step -> record not yet written
        self._pending_model: tuple[str, str] | None = None  # (model JSON, framework) not yet written
        self._pending_job: tuple[str | None, int, int] | None = None  # (job, rank, world size) unwritten
        #: where this run is stored ("host:/path/runs.sqlite"): the ranks of a job stored in the same file
        #: are one run (``join_job``)
        self.address = ""
        #: the job's run id (rank 0's) once this run joined a job stored in the same file, else None
        self.job_id: str | None = None
        #: makes the writer of another model of the same script (``open_model``); set by the store
        self.opener: Callable[[int], RunWriter] | None = None
        self._deletes: set[int] = set()
        self._prune = False  # too many deletions queued: delete every step not retained instead
        self._window: deque[int] = deque()
        self._window_size = max(2, window)
        self._history: StrideHistory[int] = StrideHistory(max(2, history))
        self._steps = 0
        self._last_step: int | None = None
        self._last_written: StepRecord | None = None  # re-written on the next flush (late metrics)
        self._last_flush = time.monotonic()
        self._retry_at = 0.0
        self._backoff = FLUSH_SECONDS
        self._raised = False
        self._busy_timeout(STEP_BUSY_MS)
        atexit.register(self.close)

    @property
    def error(self) -> str | None:
        """The write error not overcome so far ("run store write failed (...)"), None when there is none."""
        reason = self._diagnosis_reason or self._steps_reason
        return None if reason is None else f"run store write failed ({reason})"

    # ------------------------------------------------------------------ RunRecorder
    def write_model(self, model: ModelInfo) -> None:
        with self._lock:
            if self._conn is None:
                return
            self._pending_model = (dumps(model.to_dict()), model.framework)
            if time.monotonic() >= self._retry_at:
                self.flush()

    def write_step(self, record: StepRecord) -> None:
        with self._lock:
            if self._conn is None:
                return
            self._pending[record.step] = record
            self._steps += 1
            self._last_step = record.step
            self._retain(record.step)
            now = time.monotonic()
            due = len(self._pending) >= FLUSH_STEPS or now - self._last_flush >= FLUSH_SECONDS
            if due and now >= self._retry_at:
                self.flush()

    def open_model(self, index: int) -> RunWriter | None:
        """The writer of the script's model number ``index`` (1, 2, ...: the models after the one this
        run holds), stored as a run of its own that names this one as its parent; None when this writer
        cannot make one. Raises what creating a run raises (the store full, read-only, locked), and
        StoreUnavailableError past ``MAX_MODELS``."""
        if self.opener is None or self._conn is None:
            return None
        if index > MAX_MODELS:
            raise StoreUnavailableError(f"the steps of a script's models after the first {MAX_MODELS + 1} "
                                        "are not stored (they are diagnosed all the same)")
        return self.opener(index)

    def job_key(self) -> str:
        """What rank 0 tells the other ranks of its job: where its run is stored, and its id."""
        return f"{self.address}#{self.run_id}"

    def join_job(self, leader: str | None, rank: int, world_size: int) -> None:
        """This run is rank ``rank`` of a job of ``world_size`` ranks whose rank 0 stores its run at
        ``leader`` (its ``job_key``; None: unknown). In the same store file, this run becomes part of the
        job's run; elsewhere it stays a run of its own, tagged with its rank. Written at the next flush."""
        with self._lock:
            if self._conn is None:
                return
            address, _, run_id = (leader or "").rpartition("#")
            job = run_id if leader and address == self.address else None
            self._pending_job = (job, rank, world_size)
            self.job_id = job
            if time.monotonic() >= self._retry_at:
                self.flush()

    def write_diagnosis(self, diagnosis: Diagnosis) -> None:
        """Store the diagnosis and whatever is pending; StoreUnavailableError if not all of it made it."""
        with self._lock:
            if self._conn is None:
                return
            self._busy_timeout(END_BUSY_MS)
            with contextlib.suppress(StoreError):  # the steps failing must not keep the diagnosis out
                self.flush()
            if self._steps_reason is not None and self._pending_model is not None:  # on its own, then
                try:
                    self._conn.execute("UPDATE runs SET model = ?, framework = ? WHERE id = ?",
                                       (*self._pending_model, self.run_id))
                    self._pending_model = None
                except sqlite3.Error:
                    self._rollback()
            steps_error = self._steps_reason
            diag_error: str | None = None
            try:
                self._conn.execute(
                    "UPDATE runs SET diagnosis = ?, verdict = ?, status = 'finished', framework = ?"
                    " WHERE id = ?",
                    (diagnosis.to_json(indent=None), str(diagnosis.verdict), diagnosis.framework,
                     self.run_id),
                )
                if self._pending_job is not None:  # the steps failing must not leave the rank out of its job
                    self._conn.execute("UPDATE runs SET job = ?, rank = ?, world_size = ? WHERE id = ?",
                                       (*self._pending_job, self.run_id))
                    self._pending_job = None
            except sqlite3.Error as exc:
                self._rollback()
                diag_error = reason(exc)
            self._diagnosis_reason = diag_error
            if steps_error is None and diag_error is None:
                self.complete = True
                return
            lost = []
            if steps_error is not None:
                lost += [f"{len(self._pending)} steps"] if self._pending else []
                lost += ["the model facts"] if self._pending_model is not None else []
            lost += ["the diagnosis"] if diag_error is not None else []
            self._raised = True
            raise StoreUnavailableError(f"{self.error}: {' and '.join(lost) or 'part'} of run {self.run_id} "
                                        "could not be stored")

    def close(self) -> None:
        """A last flush (never raises: the end of a run reports through ``write_diagnosis``), then close."""
        with self._lock:
            if self._conn is None:
                return
            try:
                self._busy_timeout(END_BUSY_MS)
                with contextlib.suppress(StoreError):
                    self.flush()
                if self.error is not None:
                    self.complete = False
            finally:
                conn, self._conn = self._conn, None
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
                atexit.unregister(self.close)

    # ------------------------------------------------------------------ internals
    def _retain(self, step: int) -> None:
        """Keep the recent window whole and a stride-sampled history; queue older steps for deletion."""
        self._window.append(step)
        if len(self._window) <= self._window_size:
            return
        old = self._window.popleft()
        for step_ in self._history.offer(old, old):
            self._drop(step_)

    def _drop(self, step: int) -> None:
        """A step the store no longer keeps: not written if still pending, else deleted at the next flush."""
        self._pending.pop(step, None)
        if self._prune:
            return
        self._deletes.add(step)
        if len(self._deletes) > 4 * (self._window_size + self._history.size):  # writes failing for long
            self._deletes.clear()
            self._prune = True

    def flush(self) -> None:
        """Commit the pending steps and deletions in one transaction; on failure keep them for a retry."""
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            records = list(self._pending.values())
            last = self._last_written
            if last is not None and last.step not in self._deletes and last.step not in self._pending:
                records = [last, *records]
            rows = [(self.run_id, r.step, r.epoch, r.loss, store_codec.encode(r)) for r in records]
            deletes = [(self.run_id, s) for s in sorted(self._deletes)]
            self._last_flush = time.monotonic()
            try:
                conn.execute("BEGIN IMMEDIATE")
                if self._pending_model is not None:
                    conn.execute("UPDATE runs SET model = ?, framework = ? WHERE id = ?",
                                 (*self._pending_model, self.run_id))
                if self._pending_job is not None:
                    conn.execute("UPDATE runs SET job = ?, rank = ?, world_size = ? WHERE id = ?",
                                 (*self._pending_job, self.run_id))
                conn.executemany("INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?)", rows)
                conn.executemany("DELETE FROM steps WHERE run_id = ? AND step = ?", deletes)
                if self._prune:
                    self._delete_unretained(conn)
                conn.execute("UPDATE runs SET steps = ?, last_step = ? WHERE id = ?",
                             (self._steps, self._last_step, self.run_id))
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                self._failed(exc)
                return
            except BaseException:  # Ctrl-C / SIGTERM in the middle: the batch stays pending
                self._rollback()
                raise
            if self._pending:
                self._last_written = next(reversed(self._pending.values()))
            self._pending = {}
            self._pending_model = None
            self._pending_job = None
            self._deletes = set()
            self._prune = False
            self._steps_reason = None
            self._retry_at, self._backoff = 0.0, FLUSH_SECONDS

    def _delete_unretained(self, conn: sqlite3.Connection) -> None:
        keep = {*self._window, *self._history.values(), *self._pending}
        stored = [row[0] for row in conn.execute("SELECT step FROM steps WHERE run_id = ?", (self.run_id,))]
        conn.executemany("DELETE FROM steps WHERE run_id = ? AND step = ?",
                         [(self.run_id, s) for s in stored if s not in keep])

    def _failed(self, exc: sqlite3.Error) -> None:
        """Remember the error, schedule the retry; raise it only the first time."""
        self._steps_reason = reason(exc)
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(2 * self._backoff, RETRY_MAX_SECONDS)
        if self._raised:
            return
        self._raised = True
        when = "before the first step" if self._last_step is None else f"at step {self._last_step}"
        raise StoreUnavailableError(f"{self.error} {when}: training goes on; the steps are kept in memory "
                                    "and the write is retried") from exc

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            if self._conn is not None and self._conn.in_transaction:
                self._conn.execute("ROLLBACK")

    def _busy_timeout(self, ms: int) -> None:
        with contextlib.suppress(sqlite3.Error):
            if self._conn is not None:
                self._conn.execute(f"PRAGMA busy_timeout={int(ms)}")


def reason(exc: BaseException) -> str:
    """The first line of an exception's message (SQLite's are one line; others may carry more)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def dumps(value: Any) -> str:
    """Compact JSON; values JSON does not know are written as their ``str``."""
    return json.dumps(value, default=str, separators=(",", ":"))
