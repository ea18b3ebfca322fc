"""A run store that cannot be written, for tests: SQLite write statements that fail on demand."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest


class FlakyConnection:
    """A sqlite3 connection whose write statements fail while ``fail(sql)`` says so (a full disk)."""

    def __init__(self, conn: sqlite3.Connection, fail: Callable[[str], bool],
                 message: str = "database or disk is full") -> None:
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_fail", fail)
        object.__setattr__(self, "_message", message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def __setattr__(self, name: str, value: Any) -> None:  # row_factory goes to the real connection
        setattr(self._conn, name, value)

    def _check(self, sql: str) -> None:
        if sql.lstrip().upper().startswith(("BEGIN", "INSERT", "UPDATE", "DELETE", "CREATE")) \
                and self._fail(sql):
            raise sqlite3.OperationalError(self._message)

    def execute(self, sql: str, *args: Any) -> Any:
        self._check(sql)
        return self._conn.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        self._check(sql)
        return self._conn.executemany(sql, *args)

    def executescript(self, sql: str) -> Any:
        self._check(sql)
        return self._conn.executescript(sql)


def fail_store_writes(monkeypatch: pytest.MonkeyPatch, fail: Callable[[str], bool],
                      message: str = "database or disk is full") -> None:
    """Every SQLite connection opened from now on (until the test ends) fails the writes ``fail`` picks."""
    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect",
                        lambda *a, **k: FlakyConnection(real_connect(*a, **k), fail, message))
