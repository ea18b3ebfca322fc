"""Atomic output files: written to a temporary file in the same directory, then moved with ``os.replace``.

A reader (or a later run) sees either the old file or the complete new one, never an empty or partial file;
on failure (disk full, read-only directory, a size limit) the temporary file is removed and the error
raised. ``describe_error`` turns such an error into one short line for the console.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path


def write_atomic(path: str | Path, data: str | bytes, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically (parent directories are created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode(encoding) if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666 & ~umask, like open()
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())  # a full disk may only show at this point
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def staging_dir(target: str | Path) -> Iterator[Path]:
    """A temporary directory inside ``target`` (created); on success its files are moved into ``target``.

    For writers that choose their own file names (TensorBoard's event writer). On failure the directory
    and whatever was written into it are removed, so ``target`` holds no partial file.
    """
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    stage = target / f".tmp-{secrets.token_hex(4)}"
    stage.mkdir()
    try:
        yield stage
        for item in sorted(stage.iterdir()):
            os.replace(item, target / item.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def describe_error(exc: BaseException) -> str:
    """One line for the console: the OS's reason for an OSError, else ``Type: message``."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
