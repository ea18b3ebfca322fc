"""unconverged_at_end: a run that ends while its loss still falls steadily gets a warning, never a fault."""

from __future__ import annotations

import math

import numpy as np
from test_curves import classifier

from deeplocalize.config import Config
from deeplocalize.detectors.unconverged import unconverged_at_end
from deeplocalize.severity import any_fault
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Severity, Symptom

CFG = Config()
STEPS = 300


def ended(losses, completed: bool = True, window: int = 512, history: int = 512) -> Trace:
    trace = Trace(window=window, history=history)
    for i, loss in enumerate(losses):
        trace.append(StepRecord(step=i + 1, epoch=i // 100, loss=float(loss), lr=0.01))
    trace.completed = completed
    return trace


def decay(tau: float, steps: int = STEPS, floor: float = 0.3, noise: float = 0.02,
          seed: int = 0) -> np.ndarray:
    """A loss falling from 2.3 towards ``floor`` as exp(-t / tau), with mini-batch noise."""
    t = np.arange(steps)
    return floor + (2.3 - floor) * np.exp(-t / tau) + np.random.default_rng(seed).normal(0, noise, steps)


def test_a_steady_fall_to_the_end_is_a_warning_to_train_longer() -> None:
    found = unconverged_at_end(ended(np.linspace(2.3, 1.2, STEPS)), classifier(), CFG)
    assert len(found) == 1
    f = found[0]
    assert f.symptom == Symptom.SLOW_CONVERGENCE and f.severity == Severity.WARNING
    assert not any_fault(found)  # alone, it never makes the run faulty
    assert 0.25 < f.evidence["late_share"] < 0.35  # a linear fall: 2/7
    assert f.step >= 0.75 * STEPS  # where the last quarter, still falling, began
    assert [c.category for c in f.causes] == [Category.TRAINING, Category.LEARNING_RATE]
    assert "train longer" in f.causes[0].fix
    assert "lower" not in f.causes[1].fix  # a falling loss is never told to lower the learning rate


def test_a_time_constant_longer_than_the_run_fires_a_converged_run_does_not() -> None:
    assert unconverged_at_end(ended(decay(tau=2 * STEPS)), classifier(), CFG)
    assert unconverged_at_end(ended(decay(tau=STEPS / 10)), classifier(), CFG) == []
    assert unconverged_at_end(ended(decay(tau=STEPS / 4)), classifier(), CFG) == []


def test_only_judged_once_the_run_ended_on_its_own() -> None:
    assert unconverged_at_end(ended(np.linspace(2.3, 1.2, STEPS), completed=False), classifier(), CFG) == []


def test_a_run_that_did_not_learn_is_left_to_the_stall_detectors() -> None:
    flat = 2.3 + np.random.default_rng(1).normal(0, 0.02, STEPS)
    assert unconverged_at_end(ended(flat), classifier(), CFG) == []
    rising = np.linspace(2.3, 4.0, STEPS)
    assert unconverged_at_end(ended(rising), classifier(), CFG) == []


def test_a_nan_at_the_end_is_left_to_the_numerical_detectors() -> None:
    losses = np.linspace(2.3, 1.2, STEPS)
    losses[-1] = math.nan
    assert unconverged_at_end(ended(losses), classifier(), CFG) == []


def test_a_late_fall_within_the_noise_is_not_enough() -> None:
    # converged at 1.0 with large mini-batch noise: its last quarter's median wanders, but not significantly
    noisy = decay(tau=STEPS / 10, floor=1.0, noise=0.5, seed=3)
    assert unconverged_at_end(ended(noisy), classifier(), CFG) == []


def test_too_few_losses_are_not_judged() -> None:
    short = np.linspace(2.3, 1.2, CFG.unconverged_min_points - 1)
    assert unconverged_at_end(ended(short), classifier(), CFG) == []
    assert unconverged_at_end(ended(np.linspace(2.3, 1.2, CFG.unconverged_min_points)), classifier(), CFG)


def test_a_long_run_is_judged_over_its_whole_length_not_only_its_window() -> None:
    # 5,000 steps, a window of 200: the fall over the whole run is what counts (history + window)
    steep_then_flat = decay(tau=400, steps=5000, noise=0.01)
    assert unconverged_at_end(ended(steep_then_flat, window=200, history=64), classifier(), CFG) == []
    linear = np.linspace(2.3, 1.2, 5000) + np.random.default_rng(2).normal(0, 0.01, 5000)
    found = unconverged_at_end(ended(linear, window=200, history=64), classifier(), CFG)
    assert found and found[0].evidence["run_first_step"] == 1 and found[0].evidence["run_last_step"] == 5000
