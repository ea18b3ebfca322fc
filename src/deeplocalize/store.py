"""The embedded store of runs: one SQLite file (standard library, WAL) under ``./.deeplocalize/``.

``RunStore(path)`` opens the store directory (default: ``$DEEPLOCALIZE_DIR`` or ``./.deeplocalize``).
``create_run`` returns a ``store_writer.RunWriter`` (a ``monitor.RunRecorder``) that writes as training goes:
steps are committed in batches (every ``FLUSH_STEPS`` steps or ``FLUSH_SECONDS``, and on close), so a killed
process leaves a run that ``load_run`` can still read and ``deeplocalize analyze`` can still diagnose.

A store that cannot be written (disk full, read-only, locked, an I/O error) never stops training: the
writer keeps what it could not write in memory and retries (see ``RunWriter``), and the errors it
raises (``StoreUnavailableError``) are tool errors for the Monitor. A store whose directory or file is not
writable is read through a read-only SQLite connection (URI ``mode=ro``): listing and analyzing never
write.

The ranks of a distributed job are one run: each rank writes its own steps (as its own row of ``runs``),
and once the ranks have met (their handshake at their first step together, ``probes.torch_dist``) every
rank's row names the job's run (rank 0's) in ``job`` with its ``rank``. ``list_runs`` and ``latest`` show
the job once, with its ranks; ``load_run(job, rank=N)`` reads rank N's steps and diagnosis. A rank whose
store is another file (another host) stays a run of its own there, tagged with its rank.

The models of a script that trains several are one run too: the first model's row holds the run, each
later model writes its own row (``RunWriter.open_model``) naming it in ``parent`` with its ``model_index``
(1, 2, ...). ``list_runs`` and ``latest`` show the run once; ``load_run(run, model=N)`` reads model N,
``load_models`` all of them.

Size is bounded: every step of the recent window is kept (``Config.window`` steps) plus a down-sampled
history of older steps (every ``stride``-th step; the stride doubles when ``Config.history`` is exceeded,
as in ``trace.Trace``); older steps are deleted as the run goes.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deeplocalize import store_codec
from deeplocalize.config import Config
from deeplocalize.diagnosis import Diagnosis
from deeplocalize.errors import StoreError, StoreUnavailableError
from deeplocalize.model import ModelInfo
from deeplocalize.store_sqlite import BUSY_TIMEOUT_S, connect_readonly, immediate, store_error, writable
from deeplocalize.store_writer import RunWriter, dumps
from deeplocalize.trace import StepRecord, Trace

DB_NAME = "runs.sqlite"
ENV_VAR = "DEEPLOCALIZE_DIR"
SCHEMA_VERSION = "3"
#: Versions this one reads: schema 1 had no ``job``/``rank``/``world_size``, schema 2 no ``parent``/
#: ``model_index`` (added when an older store is opened for writing; read-only, they read as None).
READABLE_SCHEMAS = frozenset({"1", "2", SCHEMA_VERSION})
WAL_LIMIT_BYTES = 1 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, seq INTEGER UNIQUE NOT NULL, created REAL NOT NULL, framework TEXT NOT NULL,
    command TEXT, status TEXT NOT NULL, steps INTEGER NOT NULL DEFAULT 0, last_step INTEGER,
    verdict TEXT, config TEXT, model TEXT, diagnosis TEXT, pid INTEGER, host TEXT,
    job TEXT, rank INTEGER, world_size INTEGER, parent TEXT, model_index INTEGER
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL, step INTEGER NOT NULL, epoch INTEGER, loss REAL, record BLOB NOT NULL,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
"""
#: Added by schema 2: the job a rank's run belongs to (rank 0's run id), its rank, the job's size.
_JOB_COLUMNS = (("job", "TEXT"), ("rank", "INTEGER"), ("world_size", "INTEGER"))
#: Added by schema 3: a script that trains several models stores each model after the first as a run of its
#: own whose ``parent`` is the first model's run, ``model_index`` its place (1, 2, ... in the order seen).
_MODEL_COLUMNS = (("parent", "TEXT"), ("model_index", "INTEGER"))
_ADDED_COLUMNS = _JOB_COLUMNS + _MODEL_COLUMNS


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
        """Open the database (creating it when ``create``); StoreError if missing or not a store.

        ``StoreUnavailableError`` (a StoreError) when it cannot be opened or written for a reason other
        than its content. Without ``create`` (reading), a store whose directory or file is not writable is
        opened read-only (URI ``mode=ro``), with no set-up write at all.
        """
        try:
            if self.path.exists() and not self.path.is_dir():
                raise StoreError(f"run store {self.path} is a file, not a directory")
            if not self.db_path.exists():
                if not create:
                    raise StoreError(f"no run store at {self.path} "
                                     "(record one with `deeplocalize run SCRIPT`)")
                self.path.mkdir(parents=True, exist_ok=True)
            elif not create and self.db_path.stat().st_size == 0:  # created when the disk was already full
                raise StoreError(f"no runs stored in {self.path} yet")
            readonly = not create and not writable(self.path, self.db_path)
        except OSError as exc:  # no permission to look into (or create) the directory
            verb = "create" if create else "read"
            raise StoreUnavailableError(f"cannot {verb} run store {self.path}: {exc.strerror or exc}") \
                from exc
        try:
            return self._open_when_free(create, readonly)
        except StoreUnavailableError:
            if create or readonly:
                raise
            return self._open(create, True)  # e.g. a full disk: no room for SQLite's WAL index (-shm)

    def _open_when_free(self, create: bool, readonly: bool) -> sqlite3.Connection:
        """``_open``, tried again while another process holds the lock (for up to BUSY_TIMEOUT_S): SQLite
        does not wait by itself when two processes set up a new store at once (the ranks of a job)."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                return self._open(create, readonly)
            except StoreUnavailableError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def _open(self, create: bool, readonly: bool) -> sqlite3.Connection:
        try:
            if readonly:
                conn = connect_readonly(self.db_path)
            else:
                conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                       check_same_thread=False)
        except sqlite3.Error as exc:
            raise store_error(exc, f"cannot open run store {self.db_path}", self.db_path) from exc
        try:
            if not readonly:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA wal_autocheckpoint=256")  # pages (4 KiB): the WAL stays near 1 MiB
                conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")  # shrinks after a checkpoint
            self._check_schema(conn, create)
        except sqlite3.Error as exc:
            conn.close()
            what = f"cannot {'write to' if create else 'read'} run store {self.db_path}"
            raise store_error(exc, what, self.db_path) from exc
        except StoreError:
            conn.close()
            raise
        return conn

    def _check_schema(self, conn: sqlite3.Connection, create: bool) -> None:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables and create:  # in one transaction: another process sees no table or every table
            with immediate(conn):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            return
        if not {"meta", "runs", "steps"} <= tables:
            raise StoreError(f"{self.db_path} is not a deeplocalize run store")
        row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None or row[0] not in READABLE_SCHEMAS:
            found = None if row is None else row[0]
            raise StoreError(f"run store {self.db_path} has schema {found}; this version reads "
                             f"{', '.join(sorted(READABLE_SCHEMAS))}")
        if create and row[0] != SCHEMA_VERSION:
            _upgrade(conn)

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        conn = self.connect()
        try:
            conn.row_factory = sqlite3.Row
            return conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise store_error(exc, f"cannot read run store {self.db_path}", self.db_path) from exc
        finally:
            conn.close()

    # ------------------------------------------------------------------ writing
    def create_run(
        self, framework: str, command: str | None = None, config: Config | None = None,
        parent: str | None = None, model_index: int | None = None,
    ) -> RunWriter:
        """Register a new run and return its writer (a ``monitor.RunRecorder``); ``parent``/``model_index``:
        the run of another model of the script whose first model's run is ``parent`` (``open_model``)."""
        config = config or Config()
        conn = self.connect(create=True)
        try:
            with immediate(conn):
                seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM runs").fetchone()[0]
                run_id = f"r{seq:04d}"
                conn.execute(
                    "INSERT INTO runs (id, seq, created, framework, command, status, config, pid, host,"
                    " parent, model_index) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                    (run_id, seq, time.time(), framework, command, dumps(config.to_dict()), os.getpid(),
                     socket.gethostname(), parent, model_index),
                )
        except sqlite3.Error as exc:
            conn.close()
            raise store_error(exc, f"cannot write to run store {self.db_path}", self.db_path) from exc
        writer = RunWriter(conn, run_id, window=config.window, history=config.history)
        writer.address = f"{socket.gethostname()}:{self.db_path.resolve()}"
        writer.opener = lambda index: self.create_run(framework, command, config, run_id, index)
        return writer

    # ------------------------------------------------------------------ reading
    def resolve(self, run_id: str) -> str:
        """The stored id for ``run_id``: an exact id, ``latest`` (the latest run or job, not one of a job's
        other ranks), or a number (``7``, ``r7``, ``r0007``)."""
        text = run_id.strip()
        if text == "latest":
            rows = self._read(f"SELECT id, {self._added_columns()} FROM runs ORDER BY seq DESC")
            if not rows:
                raise StoreError(f"no runs stored in {self.path} yet")
            ids = {row["id"] for row in rows}
            return next(str(row["id"]) for row in rows if not _is_member(dict(row), ids))
        rows = self._read("SELECT id FROM runs WHERE id = ?", (text,))
        if not rows:
            digits = text[1:] if text[:1] in ("r", "R") else text
            if digits.isdigit():
                rows = self._read("SELECT id FROM runs WHERE seq = ?", (int(digits),))
        if not rows:
            raise StoreError(f"no run {text!r} in {self.path} (`deeplocalize runs` lists them)")
        return str(rows[0]["id"])

    def list_runs(self) -> list[dict[str, Any]]:
        """Every stored run, oldest first: id, created, framework, command, status, steps, verdict, models
        (how many models the diagnosis covers when there are several, else None); a distributed job once,
        with ``world_size`` and ``ranks`` (each rank's id, status, steps, last step and verdict)."""
        if not self.db_path.exists() or self.db_path.stat().st_size == 0:
            return []
        rows = [dict(row) for row in self._read(
            "SELECT id, created, framework, command, status, steps, last_step, verdict, pid, host, diagnosis,"
            f" {self._added_columns()} FROM runs ORDER BY seq")]
        ids = {row["id"] for row in rows}
        members: dict[str, list[dict[str, Any]]] = {}
        out = []
        for row in rows:
            row["models"] = _model_count(row.pop("diagnosis"))
            _with_live_status(row)
            if row.get("parent") in ids:  # another model of a run listed: in that run's ``models``
                continue
            if _is_member(row, ids):
                members.setdefault(str(row["job"]), []).append(row)
            else:
                out.append(row)
        for row in out:
            if row.get("job") == row["id"]:
                row["ranks"] = [_rank_summary(r) for r in sorted([row, *members.get(row["id"], [])],
                                                                   key=lambda r: r.get("rank") or 0)]
        return out

    def load_run(self, run_id: str, rank: int | None = None, model: int | None = None) -> StoredRun:
        """Read a run back: metadata, model facts, step records (oldest first), diagnosis, config. For a
        distributed job, ``rank`` picks the rank whose steps are read (default: the run named, rank 0 for
        the job); the metadata lists every rank (``ranks``). For a script that trained several models,
        ``model`` picks one by its place (0: the first, the default); the metadata lists the others
        (``models``: each one's ``model_index``, ``id``, ``steps`` and ``verdict``)."""
        rid = self.resolve(run_id)
        if rank is not None:
            rid = self._rank_id(rid, rank)
        if model:
            rid = self._model_id(rid, model)
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
        if row.get("job"):
            meta["ranks"] = [_rank_summary(_with_live_status(dict(r))) for r in self._read(
                "SELECT id, rank, status, steps, last_step, verdict, pid, host FROM runs WHERE job = ?"
                " ORDER BY rank", (row["job"],))]
        others = self._model_rows(rid)
        if others:
            meta["models"] = others
        if damaged:
            meta["damaged_steps"] = damaged
        return StoredRun(meta=meta, model=model, records=records, diagnosis=diagnosis, config=config)

    def load_models(self, run_id: str, rank: int | None = None) -> list[StoredRun]:
        """Every model of a run, the first first (one for a script that trained one model)."""
        first = self.load_run(run_id, rank)
        return [first, *(self.load_run(str(m["id"])) for m in first.meta.get("models", []))]

    def _model_rows(self, rid: str) -> list[dict[str, Any]]:
        """The runs of the other models of run ``rid``, in order (none in a store older than schema 3)."""
        if "parent" not in self._run_columns():
            return []
        return [dict(r) for r in self._read(
            "SELECT model_index, id, steps, verdict FROM runs WHERE parent = ? ORDER BY model_index", (rid,))]

    def _model_id(self, rid: str, index: int) -> str:
        """The id of model ``index`` of run ``rid``."""
        rows = self._model_rows(rid)
        for row in rows:
            if row["model_index"] == index:
                return str(row["id"])
        have = ", ".join(str(r["model_index"]) for r in [{"model_index": 0}, *rows])
        raise StoreError(f"run {rid} has no model {index} stored (models {have})")

    def _rank_id(self, rid: str, rank: int) -> str:
        """The id of rank ``rank``'s run in the job of run ``rid``."""
        row = self._read(f"SELECT id, {self._added_columns()} FROM runs WHERE id = ?", (rid,))[0]
        job = row["job"]
        if job is None:
            if rank == 0 and row["rank"] in (None, 0):
                return rid
            raise StoreError(f"run {rid} is not a distributed job (it has no rank {rank})")
        found = self._read("SELECT id, rank FROM runs WHERE job = ? ORDER BY rank", (job,))
        for member in found:
            if member["rank"] == rank:
                return str(member["id"])
        have = ", ".join(str(m["rank"]) for m in found)
        raise StoreError(f"run {job} has no rank {rank} stored (ranks {have})")

    def _run_columns(self) -> set[str]:
        """The columns of ``runs`` in this store (an older store read as it is lacks the later ones)."""
        return {row["name"] for row in self._read("PRAGMA table_info(runs)")}

    def _added_columns(self) -> str:
        """The columns later schemas added, to select: NULL for those an older store read as it is lacks."""
        have = self._run_columns()
        return ", ".join(name if name in have else f"NULL AS {name}" for name, _ in _ADDED_COLUMNS)


def _is_member(row: dict[str, Any], ids: set[str]) -> bool:
    """A rank other than the one that holds a job (rank 0), in a job stored here, or a model other than the
    first of a run stored here."""
    job = row.get("job")
    return (bool(job) and job != row["id"] and job in ids) or row.get("parent") in ids


def _rank_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row.get(key) for key in ("rank", "id", "status", "steps", "last_step", "verdict")}


def _upgrade(conn: sqlite3.Connection) -> None:
    """Schema 1 or 2 -> 3 (the job columns, the model columns), in one transaction: the ranks of a job may
    open it at once."""
    with immediate(conn):
        have = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in have:
                conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))


def _model_count(diagnosis: str | None) -> int | None:
    """How many models a stored diagnosis covers when there are several (None: one, none, or unreadable)."""
    try:
        models = json.loads(diagnosis).get("models") if diagnosis else None
    except (TypeError, ValueError, AttributeError):
        return None
    return len(models) if isinstance(models, list) and len(models) > 1 else None


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
