"""The embedded store of runs: one SQLite file (standard library, WAL) under ``./.deeplocalize/``.

``RunStore(path)`` opens the store directory (default: ``$DEEPLOCALIZE_DIR`` or ``./.deeplocalize``).
``create_run`` returns a ``RunWriter`` (a ``monitor.RunRecorder``) that writes as training goes: steps are
committed in batches (every ``FLUSH_STEPS`` steps or ``FLUSH_SECONDS``, and on close), so a killed process
leaves a run that ``load_run`` can still read and ``deeplocalize analyze`` can still diagnose.

Size is bounded: every step of the recent window is kept (``Config.window`` steps) plus a down-sampled
history of older steps (every ``stride``-th step; the stride doubles when ``Config.history`` is exceeded,
as in ``trace.Trace``); older steps are deleted as the run goes.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deeplocalize import store_codec
from deeplocalize.config import Config
from deeplocalize.diagnosis import Diagnosis
from deeplocalize.errors import StoreError
from deeplocalize.model import ModelInfo
from deeplocalize.trace import StepRecord, Trace

DB_NAME = "runs.sqlite"
ENV_VAR = "DEEPLOCALIZE_DIR"
SCHEMA_VERSION = "1"
FLUSH_STEPS = 50
FLUSH_SECONDS = 1.0
WAL_LIMIT_BYTES = 1 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, seq INTEGER UNIQUE NOT NULL, created REAL NOT NULL, framework TEXT NOT NULL,
    command TEXT, status TEXT NOT NULL, steps INTEGER NOT NULL DEFAULT 0, last_step INTEGER,
    verdict TEXT, config TEXT, model TEXT, diagnosis TEXT, pid INTEGER, host TEXT
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL, step INTEGER NOT NULL, epoch INTEGER, loss REAL, record BLOB NOT NULL,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
"""


def default_dir() -> Path:
    """``$DEEPLOCALIZE_DIR`` when set, else ``./.deeplocalize``."""
    return Path(os.environ.get(ENV_VAR) or ".deeplocalize")


@dataclass
class StoredRun:
    """A run read back from the store."""

    meta: dict[str, Any]
    model: ModelInfo
    records: list[StepRecord]
    diagnosis: Diagnosis | None
    config: Config = field(default_factory=Config)

    @property
    def run_id(self) -> str:
        return str(self.meta["id"])

    def trace(self) -> Trace:
        """The stored steps as a Trace (for reports)."""
        return Trace.from_records(self.records)


class RunStore:
    """A directory holding the SQLite file of all runs."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_dir()
        self.db_path = self.path / DB_NAME

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    # ------------------------------------------------------------------ connections
    def connect(self, create: bool = False) -> sqlite3.Connection:
        """Open the database (creating it when ``create``); StoreError if missing or not a store."""
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"run store {self.path} is a file, not a directory")
        if not self.db_path.exists():
            if not create:
                raise StoreError(f"no run store at {self.path} (record one with `deeplocalize run SCRIPT`)")
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create run store {self.path}: {exc.strerror or exc}") from exc
        try:
            conn = sqlite3.connect(self.db_path, timeout=10.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open run store {self.db_path}: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint=256")  # pages (4 KiB): the WAL stays near 1 MiB
            conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")  # shrinks back after a checkpoint
            self._check_schema(conn, create)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"run store {self.db_path} is corrupt or not a deeplocalize store: {exc}") \
                from exc
        except StoreError:
            conn.close()
            raise
        return conn

    def _check_schema(self, conn: sqlite3.Connection, create: bool) -> None:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables and create:
            conn.executescript(_SCHEMA)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            return
        if not {"meta", "runs", "steps"} <= tables:
            raise StoreError(f"{self.db_path} is not a deeplocalize run store")
        row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None or row[0] != SCHEMA_VERSION:
            found = None if row is None else row[0]
            raise StoreError(f"run store {self.db_path} has schema {found}; this version reads "
                             f"{SCHEMA_VERSION}")

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        conn = self.connect()
        try:
            conn.row_factory = sqlite3.Row
            return conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"run store {self.db_path} is corrupt: {exc}") from exc
        finally:
            conn.close()

    # ------------------------------------------------------------------ writing
    def create_run(
        self, framework: str, command: str | None = None, config: Config | None = None
    ) -> RunWriter:
        """Register a new run and return its writer (a ``monitor.RunRecorder``)."""
        config = config or Config()
        conn = self.connect(create=True)
        try:
            conn.execute("BEGIN IMMEDIATE")
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM runs").fetchone()[0]
            run_id = f"r{seq:04d}"
            conn.execute(
                "INSERT INTO runs (id, seq, created, framework, command, status, config, pid, host)"
                " VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?)",
                (run_id, seq, time.time(), framework, command, _dumps(config.to_dict()), os.getpid(),
                 socket.gethostname()),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"cannot write to run store {self.db_path}: {exc}") from exc
        return RunWriter(conn, run_id, window=config.window, history=config.history)

    # ------------------------------------------------------------------ reading
    def resolve(self, run_id: str) -> str:
        """The stored id for ``run_id``: an exact id, ``latest``, or a number (``7``, ``r7``, ``r0007``)."""
        text = run_id.strip()
        if text == "latest":
            rows = self._read("SELECT id FROM runs ORDER BY seq DESC LIMIT 1")
            if not rows:
                raise StoreError(f"no runs stored in {self.path} yet")
            return str(rows[0]["id"])
        rows = self._read("SELECT id FROM runs WHERE id = ?", (text,))
        if not rows:
            digits = text[1:] if text[:1] in ("r", "R") else text
            if digits.isdigit():
                rows = self._read("SELECT id FROM runs WHERE seq = ?", (int(digits),))
        if not rows:
            raise StoreError(f"no run {text!r} in {self.path} (`deeplocalize runs` lists them)")
        return str(rows[0]["id"])

    def list_runs(self) -> list[dict[str, Any]]:
        """Every stored run, oldest first: id, created, framework, command, status, steps, verdict."""
        if not self.db_path.exists():
            return []
        rows = self._read(
            "SELECT id, created, framework, command, status, steps, last_step, verdict, pid, host"
            " FROM runs ORDER BY seq"
        )
        return [_with_live_status(dict(row)) for row in rows]

    def load_run(self, run_id: str) -> StoredRun:
        """Read a run back: metadata, model facts, step records (oldest first), diagnosis, config."""
        rid = self.resolve(run_id)
        row = dict(self._read("SELECT * FROM runs WHERE id = ?", (rid,))[0])
        damaged: list[int] = []
        records: list[StepRecord] = []
        for step in self._read("SELECT step, record FROM steps WHERE run_id = ? ORDER BY step", (rid,)):
            try:
                records.append(store_codec.decode(step["step"], step["record"]))
            except ValueError:
                damaged.append(int(step["step"]))
        try:
            config = Config.from_dict(json.loads(row.pop("config") or "{}"))
            model_raw = row.pop("model")
            model = ModelInfo.from_dict(json.loads(model_raw)) if model_raw else ModelInfo(row["framework"])
            diag_raw = row.pop("diagnosis")
            diagnosis = Diagnosis.from_dict(json.loads(diag_raw)) if diag_raw else None
        except (TypeError, ValueError, KeyError) as exc:
            raise StoreError(f"run {rid} in {self.path} is damaged: {exc}") from exc
        meta = _with_live_status(row)
        if damaged:
            meta["damaged_steps"] = damaged
        return StoredRun(meta=meta, model=model, records=records, diagnosis=diagnosis, config=config)


class RunWriter:
    """Persists one run as it goes; implements ``monitor.RunRecorder``.

    Never raises into training for a second time: after a database error it records the error in
    ``self.error``, raises it once (the Monitor catches it into ``tool_errors``) and then does nothing.
    """

    def __init__(self, conn: sqlite3.Connection, run_id: str, window: int = 512, history: int = 512) -> None:
        self.run_id = run_id
        self.error: str | None = None
        self._conn: sqlite3.Connection | None = conn
        self._lock = threading.RLock()
        self._pending: list[StepRecord] = []
        self._deletes: list[int] = []
        self._window: deque[int] = deque()
        self._window_size = max(2, window)
        self._history: list[int] = []
        self._history_size = max(2, history)
        self._stride = 1
        self._steps = 0
        self._last_step: int | None = None
        self._last_written: StepRecord | None = None  # re-written on the next flush (late metrics)
        self._last_flush = time.monotonic()
        atexit.register(self.close)

    # ------------------------------------------------------------------ RunRecorder
    def write_model(self, model: ModelInfo) -> None:
        self._execute("UPDATE runs SET model = ?, framework = ? WHERE id = ?",
                      (_dumps(model.to_dict()), model.framework, self.run_id))

    def write_step(self, record: StepRecord) -> None:
        with self._lock:
            if self._conn is None or self.error is not None:
                return
            self._pending.append(record)
            self._steps += 1
            self._last_step = record.step
            self._retain(record.step)
            if len(self._pending) >= FLUSH_STEPS or time.monotonic() - self._last_flush >= FLUSH_SECONDS:
                self.flush()

    def write_diagnosis(self, diagnosis: Diagnosis) -> None:
        with self._lock:
            self.flush()
            self._execute(
                "UPDATE runs SET diagnosis = ?, verdict = ?, status = 'finished', framework = ? WHERE id = ?",
                (diagnosis.to_json(indent=None), str(diagnosis.verdict), diagnosis.framework, self.run_id),
            )

    def close(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            try:
                self.flush()
            finally:
                conn, self._conn = self._conn, None
                conn.close()
                atexit.unregister(self.close)

    # ------------------------------------------------------------------ internals
    def _retain(self, step: int) -> None:
        """Keep the recent window whole and a stride-sampled history; queue older steps for deletion."""
        self._window.append(step)
        if len(self._window) <= self._window_size:
            return
        old = self._window.popleft()
        if old % self._stride:
            self._deletes.append(old)
            return
        self._history.append(old)
        if len(self._history) > self._history_size:
            self._stride *= 2
            self._deletes.extend(s for s in self._history if s % self._stride)
            self._history = [s for s in self._history if s % self._stride == 0]

    def flush(self) -> None:
        """Commit the pending steps and deletions in one transaction."""
        with self._lock:
            if self._conn is None or self.error is not None:
                return
            records = self._pending
            last = self._last_written
            if last is not None and last.step not in self._deletes and all(r is not last for r in records):
                records = [last, *records]
            rows = [(self.run_id, r.step, r.epoch, r.loss, store_codec.encode(r)) for r in records]
            deletes = [(self.run_id, s) for s in self._deletes]
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany("INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?)", rows)
                self._conn.executemany("DELETE FROM steps WHERE run_id = ? AND step = ?", deletes)
                self._conn.execute("UPDATE runs SET steps = ?, last_step = ? WHERE id = ?",
                                   (self._steps, self._last_step, self.run_id))
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._fail(exc)
            if self._pending:
                self._last_written = self._pending[-1]
            self._pending = []
            self._deletes = []
            self._last_flush = time.monotonic()

    def _execute(self, sql: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            if self._conn is None or self.error is not None:
                return
            try:
                self._conn.execute(sql, args)
            except sqlite3.Error as exc:
                self._fail(exc)

    def _fail(self, exc: sqlite3.Error) -> None:
        self.error = f"run store write failed ({exc}); the run is no longer recorded"
        try:
            if self._conn is not None and self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        raise StoreError(self.error) from exc


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


def _with_live_status(row: dict[str, Any]) -> dict[str, Any]:
    """Mark a 'running' run whose process is gone (on this host) as 'interrupted'."""
    here = row.get("host") == socket.gethostname()
    if row.get("status") == "running" and here and row.get("pid") and not _alive(int(row["pid"])):
        row["status"] = "interrupted"
    return row


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
