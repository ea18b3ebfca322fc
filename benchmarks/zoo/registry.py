"""Discover the zoo's case modules (``benchmarks/zoo/cases/*.py``; the module name is the case id).

Ground-truth conventions every case follows (see ``case.py`` for the fields):
- ``categories``: every root-cause category whose fix repairs the bug, most natural first.
- ``layer``: the layer the fix changes (torch: qualified module name; Keras: ``layer.name``); when the bug
  spans several layers (an init or an activation applied to all of them) the first in forward order;
  ``None`` when no layer is at fault (loss function, optimizer, learning rate, data, training loop).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from benchmarks.zoo import cases as _cases_package

#: The transformer zoo's case ids start with this (its cases say ``suite="transformer"``; tested).
TRANSFORMER_PREFIX = "torch_lm_"


def case_ids(suite: str | None = None) -> list[str]:
    """Every case id, sorted (without importing a framework); ``suite``: only the bug zoo's ("zoo") or the
    transformer zoo's ("transformer")."""
    ids = sorted(m.name for m in pkgutil.iter_modules(_cases_package.__path__) if not m.name.startswith("_"))
    if suite is None:
        return ids
    return [i for i in ids if i.startswith(TRANSFORMER_PREFIX) == (suite == "transformer")]


def load_cases(
    ids: list[str] | None = None, framework: str | None = None, kind: str | None = None
) -> list[ModuleType]:
    """Import the case modules (all, or those in ``ids``), filtered by ``framework`` and ``kind``.

    Importing a Keras case imports keras: set KERAS_BACKEND before calling this with Keras cases included.
    """
    known = case_ids()
    if ids is not None:
        unknown = sorted(set(ids) - set(known))
        if unknown:
            raise KeyError(f"unknown case ids: {', '.join(unknown)}")
        known = [i for i in known if i in set(ids)]
    if framework is not None:  # the id starts with the framework: filter before importing anything
        known = [i for i in known if i.startswith(f"{framework}_")]
    modules = [importlib.import_module(f"{_cases_package.__name__}.{i}") for i in known]
    return [
        m
        for m in modules
        if (framework is None or m.CASE.framework == framework) and (kind is None or m.CASE.kind == kind)
    ]
