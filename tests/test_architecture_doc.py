"""docs/architecture.md: its detector example runs as written (and leaves the registry as it was)."""

from __future__ import annotations

import re
from pathlib import Path

from deeplocalize import detectors

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def test_the_detector_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1
    before = list(detectors.DETECTORS)
    try:
        namespace: dict[str, object] = {}
        exec(compile(blocks[0], str(DOC), "exec"), namespace)  # its asserts are the test
        assert [d.name for d in detectors.DETECTORS[len(before):]] == ["update_larger_than_weights"]
    finally:
        detectors.DETECTORS[:] = before


def test_every_module_named_in_the_table_exists() -> None:
    src = DOC.parents[1] / "src" / "deeplocalize"
    table = DOC.read_text(encoding="utf-8").split("## Modules", 1)[1].split("## Contracts", 1)[0]
    for cell in re.findall(r"^\| (.+?) \|", table, flags=re.M)[2:]:
        for name in re.findall(r"`([^`]+)`", cell):
            stem = name.split("*")[0].rstrip("/")
            matches = list(src.glob(f"{stem}*")) if "*" in name else [src / stem]
            assert any(p.exists() for p in matches), name
