"""The house rule on module size: each module of the package has one job, and none grows past
``MAX_LINES`` (function complexity is held by ruff's C901, ``max-complexity = 15`` in pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest

import deeplocalize

MAX_LINES = 450
PACKAGE = Path(deeplocalize.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_longer_than_the_limit(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines < MAX_LINES, f"{path.name} has {lines} lines: split it by job (limit {MAX_LINES})"
