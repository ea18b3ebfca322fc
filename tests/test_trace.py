"""The trace keeps every (layer, channel) series whatever the number of keys, and a missing key reads NaN."""

from __future__ import annotations

import numpy as np

from deeplocalize import summary
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Channel


def _vec(value: float) -> np.ndarray:
    vec = summary.empty()
    vec[summary.NUMEL], vec[summary.MEAN] = 1, value
    return vec


def test_series_survive_the_block_growing_and_absent_keys_read_nan() -> None:
    trace = Trace(window=4, history=4)
    for step in range(1, 7):  # one more layer each step: the key block grows past its first capacity
        stats = {(layer, Channel.OUTPUT): _vec(10 * step + layer) for layer in range(5 * step)}
        trace.append(StepRecord(step=step, loss=1.0 / step, stats=stats))
    assert list(trace.steps()) == [3, 4, 5, 6]
    assert list(trace.series(0, Channel.OUTPUT, "mean")) == [30, 40, 50, 60]
    late = trace.series(27, Channel.OUTPUT, "mean")  # first recorded at step 6
    assert np.isnan(late[:3]).all() and late[3] == 87
    assert len(trace.keys()) == 30 and trace.has(29, Channel.OUTPUT)
    assert np.isnan(trace.series(0, Channel.WEIGHTS, "mean")).all()


def _full(step: int, layers: range) -> StepRecord:
    return StepRecord(step=step, stats={(i, Channel.OUTPUT): summary.summarize(np.arange(4.0) * step + i)
                                        for i in layers})


def test_steps_whose_keys_change_order_or_membership_land_in_their_own_rows() -> None:
    # the rows of a key order are remembered; a stale mapping would put vectors in another key's row
    orders = [
        [(0, Channel.OUTPUT), (1, Channel.OUTPUT), (1, Channel.WEIGHTS)],
        [(1, Channel.WEIGHTS), (0, Channel.OUTPUT), (1, Channel.OUTPUT)],  # same keys, other order
        [(0, Channel.OUTPUT), (1, Channel.OUTPUT)],  # a key missing
        [(2, Channel.INPUT), (0, Channel.OUTPUT), (1, Channel.OUTPUT), (1, Channel.WEIGHTS)],  # a new key
    ]
    trace = Trace(window=40, history=40)
    expected: dict[tuple[int, Channel], list[float]] = {key: [] for key in orders[3]}
    for step in range(1, 25):
        keys = orders[(step * 7) % 5 % len(orders)]
        vectors = {key: _vec(100 * step + 10 * key[0] + len(str(key[1]))) for key in keys}
        if step % 6 == 0:
            vectors[keys[0]] = vectors[keys[0]].astype(np.float32)  # converted like the others
        trace.append(StepRecord(step=step, stats=vectors))
        for key in expected:
            expected[key].append(float(vectors[key][summary.MEAN]) if key in vectors else np.nan)
    for key, values in expected.items():
        assert np.array_equal(trace.series(*key, "mean"), np.array(values), equal_nan=True), key
        assert np.array_equal(trace.matrix(*key)[:, summary.MEAN], np.array(values), equal_nan=True), key


def test_a_vector_that_does_not_stack_is_written_as_before() -> None:
    trace = Trace(window=4, history=4)
    keys = [(0, Channel.OUTPUT), (1, Channel.OUTPUT)]
    trace.append(StepRecord(step=1, stats={key: _vec(1.0) for key in keys}))
    trace.append(StepRecord(step=2, stats={keys[0]: _vec(2.0), keys[1]: np.float64(5.0)}))  # broadcast
    assert list(trace.series(0, Channel.OUTPUT, "mean")) == [1.0, 2.0]
    assert list(trace.matrix(1, Channel.OUTPUT)[1]) == [5.0] * summary.N_STATS


def test_derived_values_and_sorted_keys_follow_the_trace() -> None:
    from deeplocalize.detectors._common import measured_every

    trace = Trace(window=4, history=4)
    for step in range(1, 5):
        trace.append(_full(step, range(2)))
    calls: list[int] = []
    assert trace.derived("x", lambda: calls.append(1) or len(calls)) == 1
    assert trace.derived("x", lambda: calls.append(1) or len(calls)) == 1  # kept within one step
    assert measured_every(trace) == 1 and trace.layers() == [0, 1]
    for step in (10, 20, 30, 40):  # full statistics every 10 steps now, and a new layer
        trace.append(_full(step, range(3)))
    assert measured_every(trace) == 10
    assert trace.layers() == [0, 1, 2] and trace.keys()[-1] == (2, Channel.OUTPUT)
    assert trace.derived("x", lambda: calls.append(1) or len(calls)) == 2
    trace.set_metric("accuracy", 0.5)  # a late metric changes the trace too
    assert trace.derived("x", lambda: calls.append(1) or len(calls)) == 3
