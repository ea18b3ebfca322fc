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
