"""The down-sampling rule both the trace and the store keep older steps by."""

from __future__ import annotations

from deeplocalize.history import StrideHistory


def test_every_stride_th_step_is_kept_and_the_stride_doubles_when_full() -> None:
    history: StrideHistory[int] = StrideHistory(4)
    assert [history.offer(step, step) for step in range(1, 5)] == [[], [], [], []]
    assert history.offer(5, 5) == [1, 3, 5] and history.stride == 2 and history.values() == [2, 4]
    assert history.offer(7, 7) == [7]  # off the stride: let go at once
    for step in (6, 8):
        assert history.offer(step, step) == []
    assert history.offer(10, 10) == [2, 6, 10] and history.stride == 4 and history.values() == [4, 8]


def test_what_is_let_go_is_returned_once_and_the_kept_span_covers_the_run() -> None:
    history: StrideHistory[str] = StrideHistory(8)
    let_go: list[str] = []
    for step in range(1, 1001):
        let_go += history.offer(step, f"s{step}")
    kept = history.values()
    assert len(kept) <= 8 and len(set(let_go)) == len(let_go) == 1000 - len(kept)
    steps = [int(k[1:]) for k in kept]
    assert steps == sorted(steps) and all(s % history.stride == 0 for s in steps)
    assert steps[-1] > 800  # the whole run is spanned evenly, not just its start
