"""The SQLite plumbing of the run store: one write transaction at a time, read-only connections, and
errors told apart (a damaged file from a place that cannot be written: full, read-only, locked)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from deeplocalize.errors import StoreError, StoreUnavailableError
from deeplocalize.store_writer import reason

#: How long a connection waits for a lock held by another process when opening (seconds); the writer's
#: waits during and at the end of a run are in ``store_writer``.
BUSY_TIMEOUT_S = 10.0
#: SQLite's primary result codes that mean "this file is damaged or not a database" (anything else, such
#: as SQLITE_FULL, SQLITE_READONLY, SQLITE_BUSY, SQLITE_IOERR or SQLITE_CANTOPEN, is about the place).
_CORRUPT_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (``BEGIN IMMEDIATE``): committed on success, rolled back on any
    error (a failed rollback does not hide the error that caused it)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        raise


def writable(directory: Path, db_path: Path) -> bool:
    """Whether this process may write the store: its directory, and its files where they exist."""
    files = [db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")]
    return os.access(directory, os.W_OK) and all(os.access(f, os.W_OK) for f in files if f.exists())


def connect_readonly(db_path: Path) -> sqlite3.Connection:
    """A read-only connection (URI mode=ro). When SQLite cannot set up the WAL index next to a WAL-mode
    database in a read-only directory, the file is opened as immutable (nobody can be writing it there)."""
    uri = f"file:{urllib.parse.quote(str(db_path.resolve()))}?mode=ro"
    for suffix in ("", "&immutable=1"):
        conn = sqlite3.connect(uri + suffix, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            conn.close()
            if suffix or is_corrupt(exc):
                raise
            continue
        conn.execute("PRAGMA query_only=ON")
        return conn
    raise AssertionError("unreachable")  # pragma: no cover


def is_corrupt(exc: sqlite3.Error) -> bool:
    """Whether SQLite says the file itself is damaged or not a database."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (int(code) & 0xFF) in _CORRUPT_CODES
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


def store_error(exc: sqlite3.Error, what: str, db_path: Path) -> StoreError:
    if is_corrupt(exc):
        return StoreError(f"run store {db_path} is corrupt or not a deeplocalize store: {exc}")
    return StoreUnavailableError(f"{what}: {reason(exc)}")
