"""The statistics schedule: dense first, backing off while healthy, dense again after a warning sign."""

from __future__ import annotations

import itertools

import pytest

from deeplocalize.cadence import Cadence
from deeplocalize.config import Config


def _stats_steps(cadence: Cadence, steps: int, lr: dict[int, float] | None = None,
                 loss: dict[int, float] | None = None) -> list[int]:
    out = []
    for step in range(1, steps + 1):
        stats = cadence.is_stats(step)
        if stats:
            out.append(step)
        cadence.observe(step, stats, (lr or {}).get(step, 0.1), (loss or {}).get(step, 1.0))
    return out


def test_dense_at_the_start_then_the_gap_doubles_up_to_its_maximum() -> None:
    cadence = Cadence(Config(stats_every=20, stats_dense_steps=100, stats_every_max=200))
    steps = _stats_steps(cadence, 1000)
    assert steps[:6] == [1, 21, 41, 61, 81, 101]
    gaps = [b - a for a, b in itertools.pairwise(steps)]
    assert gaps[5:8] == [40, 80, 160] and set(gaps[8:]) == {200}


def test_an_lr_change_or_a_loss_jump_makes_it_dense_again_at_once() -> None:
    config = Config(stats_every=20, stats_dense_steps=100, stats_every_max=200)
    bumped = _stats_steps(Cadence(config), 3000, lr={s: 0.1 if s < 2000 else 0.5 for s in range(1, 3001)})
    after = [s for s in bumped if s > 2000]
    assert after[:5] == [2001, 2021, 2041, 2061, 2081]  # the verdict latency of a late fault: ~80 steps
    spiked = _stats_steps(Cadence(config), 3000, loss={2500: 50.0})
    assert [s for s in spiked if s > 2500][:2] == [2501, 2521]
    schedule = Cadence(config)  # a warm-up or a cosine decay changes the lr little per step: no effect
    smooth = _stats_steps(schedule, 3000, lr={s: 0.1 * (1 + s) / 3000 for s in range(1, 3001)})
    assert smooth == _stats_steps(Cadence(config), 3000)


def test_trend_checks_follow_the_statistics_but_never_further_apart_than_their_maximum() -> None:
    cadence = Cadence(Config(stats_every=20, check_every=20, stats_dense_steps=60, check_every_max=100))
    assert cadence.check_gap() == 20
    _stats_steps(cadence, 2000)
    assert cadence.gap == 200 and cadence.check_gap() == 100
    cadence.densify(2000)
    assert cadence.check_gap() == 20 and cadence.is_stats(2001)


def test_a_fixed_schedule_ignores_every_warning_sign() -> None:
    config = Config(stats_every=20, stats_dense_steps=100, stats_every_max=200, stats_adaptive=False)
    plain = _stats_steps(Cadence(config), 3000)
    assert plain == _stats_steps(Cadence(config.replace(stats_adaptive=True)), 3000)
    bump = {s: 0.1 if s < 2000 else 0.5 for s in range(1, 3001)}
    assert _stats_steps(Cadence(config), 3000, lr=bump) == plain
    assert _stats_steps(Cadence(config), 3000, loss={2500: 50.0}) == plain
    cadence = Cadence(config)
    _stats_steps(cadence, 2000)
    cadence.densify(2000)  # a finding
    assert not cadence.is_stats(2001) and cadence.gap == 200


def test_the_schedule_switch_must_be_a_boolean() -> None:
    with pytest.raises(ValueError, match="stats_adaptive must be true or false"):
        Config(stats_adaptive="no")  # type: ignore[arg-type]
