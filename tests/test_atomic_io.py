"""Atomic output files: the complete new file or the old one, never a partial or empty file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from deeplocalize.atomic_io import describe_error, staging_dir, write_atomic
from deeplocalize.diagnosis import Diagnosis
from deeplocalize.vocabulary import Verdict


def _full(*args: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_write_atomic_replaces_the_file_and_respects_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.json"
    write_atomic(target, "first\n")
    write_atomic(target, b"second\n")
    assert target.read_text() == "second\n"
    assert list(target.parent.iterdir()) == [target]
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "d.json"
    target.write_text("old\n")
    monkeypatch.setattr(os, "fsync", _full)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, "new\n")
    with pytest.raises(OSError, match="No space left"):
        Diagnosis(verdict=Verdict.HEALTHY, framework="torch").save_json(tmp_path / "fresh.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json"]
    assert target.read_text() == "old\n"


def test_save_html_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    diagnosis = Diagnosis(verdict=Verdict.HEALTHY, framework="torch")
    path = diagnosis.save_html(tmp_path / "r.html")
    assert "<html" in path.read_text().lower()
    monkeypatch.setattr(os, "replace", _full)
    with pytest.raises(OSError):
        diagnosis.save_html(tmp_path / "other.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_staging_dir_moves_on_success_and_cleans_up_on_failure(tmp_path: Path) -> None:
    with staging_dir(tmp_path / "tb") as stage:
        (stage / "events.1").write_text("x")
    assert [p.name for p in (tmp_path / "tb").iterdir()] == ["events.1"]
    with pytest.raises(RuntimeError), staging_dir(tmp_path / "tb") as stage:
        (stage / "events.2").write_text("partial")
        raise RuntimeError("writer failed")
    assert [p.name for p in (tmp_path / "tb").iterdir()] == ["events.1"]


def test_describe_error_is_one_line() -> None:
    assert describe_error(OSError(errno.EROFS, "Read-only file system", "/x")) == "Read-only file system"
    assert describe_error(ValueError("bad\nvalue")) == "ValueError: bad"
