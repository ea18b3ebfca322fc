"""deeplocalize/causes.py is the one home of the root-cause weights: every constant is a prior in (0, 1],
every default vote too, and no module of the package passes a number as a vote's weight."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from deeplocalize import causes

SRC = Path(causes.__file__).resolve().parent
#: the homes of weights: the named constants, and Config's user-settable ``*_vote`` fields
HOMES = {SRC / "causes.py", SRC / "config.py"}
#: calls whose second positional argument (or ``weight=``) is a vote's weight
WEIGHTED_CALLS = {"CauseHint", "cause", "Default"}


def _constants() -> dict[str, object]:
    """Module-level ``NAME: Final = value`` of causes.py."""
    tree = ast.parse((SRC / "causes.py").read_text(encoding="utf-8"))
    names = [node.target.id for node in tree.body
             if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
             and "Final" in ast.unparse(node.annotation)]
    return {name: getattr(causes, name) for name in names}


def test_every_constant_is_a_float_weight() -> None:
    constants = _constants()
    assert len(constants) > 100
    for name, value in constants.items():
        assert type(value) is float, name
        assert 0.0 < value <= 1.0, name


def test_every_numeric_name_is_a_final_constant() -> None:
    """A weight added without ``Final`` (or as an int) would escape the check above."""
    numeric = {name for name, value in vars(causes).items()
               if not name.startswith("_") and isinstance(value, int | float) and not isinstance(value, bool)}
    assert numeric == set(_constants())


def test_every_constant_is_used() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in SRC.rglob("*.py") if p not in HOMES)
    unused = [name for name in _constants() if not any(
        f"{name}{end}" in text for end in (",", ")", " ", "\n"))]
    assert not unused


@pytest.mark.parametrize("table", ["DEFAULT_CAUSES", "NUMERICAL_BY_PHASE"])
def test_every_default_vote_weight_is_in_range(table: str) -> None:
    for key, entries in getattr(causes, table).items():
        assert entries, key
        for entry in entries:
            assert isinstance(entry, causes.Default), key
            assert type(entry.weight) is float and 0.0 < entry.weight <= 1.0, (key, entry)


def _category_aliases(tree: ast.Module) -> set[str]:
    """Module-level names bound to ``Category.X`` (``_ACT, _LOSS = Category.ACTIVATION, Category.LOSS``)."""
    aliases = set()
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs = (zip(target.elts, node.value.elts, strict=False)
                     if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                     else [(target, node.value)])
            for name, value in pairs:
                if isinstance(name, ast.Name) and ast.unparse(value).startswith("Category."):
                    aliases.add(name.id)
    return aliases


def _weight_of(node: ast.AST, aliases: set[str]) -> ast.expr | None:
    """The weight expression of a vote: ``CauseHint(cat, w, ...)``, ``cm.cause(cat, w, ...)``,
    ``Default(cat, w, ...)``, ``weight=w``, or a ``(category, w, fix, layer)`` tuple."""
    if isinstance(node, ast.Call):
        func = node.func
        name = getattr(func, "id", None) or getattr(func, "attr", None)
        if name not in WEIGHTED_CALLS:
            return None
        keyword = next((k.value for k in node.keywords if k.arg == "weight"), None)
        return node.args[1] if len(node.args) > 1 else keyword
    if isinstance(node, ast.Tuple) and len(node.elts) >= 2:
        first = node.elts[0]
        is_category = (isinstance(first, ast.Name) and first.id in aliases) or (
            isinstance(first, ast.Attribute) and ast.unparse(first).startswith("Category."))
        return node.elts[1] if is_category else None
    return None


def literal_weights(source: str, filename: str = "<source>") -> list[str]:
    """``file:line: expression`` for every vote whose weight contains a number (``0.8``,
    ``0.4 if x else 0.3``, ``config.stuck_vote * 0.9``)."""
    tree = ast.parse(source, filename)
    aliases = _category_aliases(tree)
    found = []
    for node in ast.walk(tree):
        weight = _weight_of(node, aliases)
        if weight is None:
            continue
        if any(isinstance(n, ast.Constant) and type(n.value) in (int, float) for n in ast.walk(weight)):
            found.append(f"{filename}:{weight.lineno}: {ast.unparse(weight)}")
    return found


def test_the_scan_finds_literal_weights() -> None:
    source = """
from deeplocalize.vocabulary import Category
_ACT = Category.ACTIVATION
a = CauseHint(Category.DATA, 0.9, "fix")
b = cm.cause(Category.LOSS, 0.4 if x else W, "fix", model, None)
c = CauseHint(Category.LOSS, weight=1, fix="fix")
d = CauseHint(_ACT, config.structure_vote * 0.9, "fix")
e = (_ACT, 0.85, "fix", None)
ok = CauseHint(Category.DATA, W, "fix"), cm.cause(Category.LOSS, config.stuck_vote * F, "fix", m, 1)
"""
    assert [hit.split(": ", 1)[1] for hit in literal_weights(source)] == [
        "0.9", "0.4 if x else W", "1", "config.structure_vote * 0.9", "0.85"]


def test_no_literal_weight_outside_causes_and_config() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path not in HOMES:
            found += literal_weights(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))
    assert not found, "name these weights in deeplocalize/causes.py:\n" + "\n".join(found)
