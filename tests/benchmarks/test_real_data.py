"""The real-world programs' data stand-ins (``benchmarks/real/cases/_data.py``)."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "real" / "cases" / "_data.py"


def test_no_module_level_name_of_the_data_stand_ins_is_bound_twice() -> None:
    """A second binding of a module-level name changes every stand-in that reads the first (once, a new
    ``_VOWELS`` string changed makemore's names, and with them two programs' runs)."""
    tree = ast.parse(DATA.read_text())
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.append(node.name)
    twice = [name for name, count in Counter(names).items() if count > 1]
    assert twice == []
