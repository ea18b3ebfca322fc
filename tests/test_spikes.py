"""The loss-spike rule (``deeplocalize.spikes``), the same online and over a window."""

from __future__ import annotations

import numpy as np

from deeplocalize.config import Config
from deeplocalize.spikes import OnlineSpikes, spikes_in

CFG = Config()


def noisy(n: int = 400, seed: int = 0) -> np.ndarray:
    return 1.0 + 0.1 * np.random.default_rng(seed).standard_normal(n)


def online_spikes(losses: np.ndarray, config: Config = CFG) -> list[int]:
    watch = OnlineSpikes(config)
    return [i for i, value in enumerate(losses) if watch.observe(float(value))]


def window_spikes(losses: np.ndarray, config: Config = CFG) -> list[int]:
    return spikes_in(losses, config)[0].tolist()


def test_one_far_loss_is_a_spike() -> None:
    losses = noisy()
    losses[200] = 5.0
    assert window_spikes(losses) == online_spikes(losses) == [200]


def test_noise_and_a_bump_under_twice_the_largest_loss_are_no_spike() -> None:
    losses = noisy()
    losses[250] = 1.9  # > mean + 6 sigma, < 2x the window's largest
    assert window_spikes(losses) == []


def test_a_spike_does_not_hide_the_next_one() -> None:
    losses = noisy()
    losses[[150, 200]] = 5.0
    assert window_spikes(losses) == [150, 200]


def test_a_loss_that_stays_up_becomes_the_new_level() -> None:
    losses = noisy()
    losses[200:] += 4.0
    hits = window_spikes(losses)
    assert hits == list(range(200, 200 + CFG.spike_recover_steps))


def test_thresholds_match_a_direct_computation_and_skip_nan() -> None:
    losses = noisy()
    losses[[50, 120, 300]] = np.nan
    _, limits = spikes_in(losses, CFG)
    for i in (40, 150, 350):
        prev = losses[:i][np.isfinite(losses[:i])][-CFG.spike_window:]
        expected = max(prev.mean() + CFG.spike_z * prev.std(), CFG.spike_max_ratio * prev.max())
        assert np.isclose(limits[i], expected)


def test_no_judgement_before_min_history() -> None:
    losses = noisy(60)
    losses[CFG.spike_min_history - 1] = 50.0
    assert np.isnan(spikes_in(losses, CFG)[1][: CFG.spike_min_history]).all()
    assert window_spikes(losses) == []


def test_the_window_version_equals_the_online_walk_on_series_with_spikes_nans_and_level_shifts() -> None:
    """``spikes_in`` computes the thresholds up to the first spike with numpy, then walks: it must give
    exactly what ``OnlineSpikes`` gives step by step."""
    for seed in range(40):
        rng = np.random.default_rng(seed)
        losses = 1 + 0.2 * rng.standard_normal(512)
        losses[rng.integers(0, 512, 8)] = rng.uniform(2, 50, 8)
        losses[rng.integers(0, 512, 5)] = np.nan
        if seed % 3 == 0:
            losses[300:] += 5.0
        walk = OnlineSpikes(CFG)
        expected_limits = []
        expected_hits = []
        for i, value in enumerate(losses.tolist()):
            limit = walk.threshold()
            expected_limits.append(np.nan if limit is None else limit)
            if walk.observe(value):
                expected_hits.append(i)
        hits, limits = spikes_in(losses, CFG)
        assert hits.tolist() == expected_hits
        np.testing.assert_allclose(limits, expected_limits, equal_nan=True)
