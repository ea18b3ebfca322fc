"""Shared test set-up: tiny models train faster on one thread, and the run store goes to a temp folder."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

try:  # torch is an optional extra; framework-free tests run without it
    import torch
except ImportError:  # pragma: no cover - exercised only without the torch extra
    torch = None

if torch is not None:
    torch.set_num_threads(1)  # tiny models: a second thread only adds contention on a 2-core machine


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's runs out of the working tree's ./.deeplocalize."""
    if "DEEPLOCALIZE_DIR" not in os.environ:
        monkeypatch.setenv("DEEPLOCALIZE_DIR", str(tmp_path_factory.mktemp("store")))
