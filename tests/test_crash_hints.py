"""Crash hints: each known framework error, raised for real by torch, gets its advice; others get none."""

from __future__ import annotations

import pytest

from deeplocalize.crash_hints import crash_hint

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402, N812
from torch import nn  # noqa: E402


def _message(fn) -> str:
    with pytest.raises(Exception) as info:  # whatever torch raises
        fn()
    return f"train.py raised {type(info.value).__name__}: {info.value}".splitlines()[0]


def test_a_hidden_state_carried_across_batches_is_told_to_detach() -> None:
    rnn, h = nn.GRU(3, 4, batch_first=True), None

    def two_batches() -> None:
        nonlocal h
        for _ in range(2):
            out, h = rnn(torch.randn(2, 5, 3), h)
            out.sum().backward()

    hint = crash_hint(_message(two_batches))
    assert hint is not None and "h = h.detach()" in hint and "retain_graph=True only hides" in hint


def test_shape_errors_name_the_numbers_to_use() -> None:
    linear = nn.Linear(512, 10)
    hint = crash_hint(_message(lambda: linear(torch.randn(64, 800))))
    assert hint is not None and "expects 512 input features but receives 800" in hint
    labels = torch.zeros(64, dtype=torch.long)
    hint = crash_hint(_message(lambda: F.cross_entropy(torch.randn(32, 10), labels)))
    assert hint is not None and "returns 32 rows for 64 labels" in hint
    hint = crash_hint(_message(lambda: F.cross_entropy(torch.randn(4, 10), torch.tensor([1, 2, 10, 3]))))
    assert hint is not None and "class label (10)" in hint


def test_an_in_place_change_of_a_saved_tensor_is_named() -> None:
    def in_place() -> None:
        x = torch.randn(3, requires_grad=True)
        y = x.sigmoid()
        y.add_(1)
        y.sum().backward()

    hint = crash_hint(_message(in_place))
    assert hint is not None and "out-of-place form" in hint


def test_other_errors_get_no_hint() -> None:
    assert crash_hint("train.py raised RuntimeError: boom at step 3") is None
    assert crash_hint(None) is None
