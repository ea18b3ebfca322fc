"""The shared statistics of ``deeplocalize.summary`` that the probes fill data facts with."""

from __future__ import annotations

import numpy as np

from deeplocalize import summary


def _globally_standardized_table() -> np.ndarray:
    """Boston-like columns (a tax rate in the hundreds, a room count near 6, a ratio near 0.5), standardized
    with one mean and deviation for the whole table instead of one per column."""
    rng = np.random.default_rng(0)
    raw = np.column_stack([rng.uniform(190, 710, 256), rng.normal(6.3, 0.7, 256), rng.normal(0.55, 0.1, 256)])
    return (raw - raw.mean()) / raw.std()


def test_continuous_features_squeezed_by_one_global_scale_are_orders_of_magnitude_apart() -> None:
    overall, continuous = summary.feature_scale_ratios(_globally_standardized_table())
    assert overall is not None and continuous is not None and continuous > 500
    per_column = _globally_standardized_table()
    per_column = (per_column - per_column.mean(axis=0)) / per_column.std(axis=0)
    assert summary.feature_scale_ratios(per_column)[1] < 1.01  # one mean and deviation per column


def test_sparse_features_count_for_the_spread_of_every_feature_but_not_of_the_continuous_ones() -> None:
    # flattened pixels in [0, 1]: a stroke through the middle, an edge pixel lit in 2% of the images
    rng = np.random.default_rng(0)
    middle = rng.uniform(0, 1, (500, 4))
    edge = (rng.uniform(0, 1, (500, 1)) < 0.02) * rng.uniform(0, 0.01, (500, 1))
    overall, continuous = summary.feature_scale_ratios(np.hstack([middle, edge, np.zeros((500, 1))]))
    assert overall > 100 and continuous < 1.5  # the edge pixel's small spread says nothing about scaling
    assert summary.feature_scale_ratios(np.ones((10, 3))) == (None, None)  # nothing varies
