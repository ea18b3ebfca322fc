"""The data helpers of ../healthy_scripts/digits.py (one copy of them), importable as ``digits`` from here."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_healthy_digits", Path(__file__).resolve().parent.parent / "healthy_scripts" / "digits.py")
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
digits, batches, acc = _module.digits, _module.batches, _module.acc
