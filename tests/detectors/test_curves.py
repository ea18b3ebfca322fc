"""loss_not_decreasing, oscillating_loss, slow_convergence on hand-built traces."""

from __future__ import annotations

import math

import numpy as np

from deeplocalize import summary
from deeplocalize.config import Config
from deeplocalize.detectors.curves import loss_not_decreasing, oscillating_loss, slow_convergence
from deeplocalize.model import DataInfo, LayerInfo, LossInfo, ModelInfo, OptimizerInfo
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Severity, Symptom

CFG = Config()
#: The detector logic on 50-60-step traces: the default minimum (curve_min_steps) is calibrated separately.
CFG50 = Config(curve_min_steps=50, acc_min_steps=50)
LOG10 = math.log(10)


def classifier(lr: float = 0.01, optimizer: str = "sgd") -> ModelInfo:
    return ModelInfo(
        framework="torch",
        layers=[
            LayerInfo(0, "fc1", "Linear", "linear", units=32, params=2080),
            LayerInfo(1, "act", "ReLU", "relu"),
            LayerInfo(2, "fc2", "Linear", "linear", units=10, params=330),
        ],
        loss=LossInfo("cross_entropy", "logits"),
        optimizer=OptimizerInfo(optimizer, lr=lr),
        task="multiclass",
    )


def regressor() -> ModelInfo:
    return ModelInfo(
        framework="keras",
        layers=[LayerInfo(0, "dense", "Dense", "linear", units=1, params=9)],
        loss=LossInfo("mse", "values"),
        optimizer=OptimizerInfo("adam", lr=1e-3),
        task="regression",
    )


def make_trace(losses, lr: float | list[float] | None = 0.01, window: int = 512, target=None) -> Trace:
    trace = Trace(window=window)
    for i, loss in enumerate(losses):
        step_lr = lr[i] if isinstance(lr, list) else lr
        rec = StepRecord(step=i + 1, epoch=i // 100, loss=float(loss), lr=step_lr)
        if target is not None:
            rec.target = summary.summarize(target)
        trace.append(rec)
    return trace


def run_checks(detector, trace_losses, model, every: int = 10, **kw):
    """Run a check detector the way the monitor does: every ``every`` steps and at the end."""
    found = []
    losses = list(trace_losses)
    trace = Trace(window=kw.get("window", 512))
    for i, loss in enumerate(losses):
        trace.append(StepRecord(step=i + 1, epoch=i // 100, loss=float(loss), lr=kw.get("lr", 0.01)))
        if (i + 1) % every == 0 or i == len(losses) - 1:
            found += detector(trace, model, CFG)
    return found


rng = np.random.default_rng(0)
STUCK = LOG10 + rng.normal(0, 0.03, 60)
HEALTHY = 0.05 + 2.25 * np.exp(-np.arange(400) / 60) + rng.normal(0, 0.08, 400).clip(-0.04)


# ---------------------------------------------------------------- loss_not_decreasing
def test_stuck_at_chance_fires_at_step_50_from_step_1() -> None:
    assert loss_not_decreasing(make_trace(STUCK[:50]), classifier(), CFG) == []  # default: 70 steps first
    found = loss_not_decreasing(make_trace(STUCK[:50]), classifier(), CFG50)
    assert len(found) == 1
    f = found[0]
    assert f.symptom == Symptom.LOSS_NOT_DECREASING and f.phase == Phase.LOSS and f.layer is None
    assert f.step == 1 and f.detected_at == 50
    assert f.evidence["at_chance"] is True
    assert f.causes[0].category == Category.LEARNING_RATE


def test_a_stall_judged_early_is_provisional_and_firm_once_the_run_has_ended() -> None:
    trace = make_trace(STUCK[:50])
    early = loss_not_decreasing(trace, classifier(), CFG50)[0]
    assert early.evidence.get("provisional") is True and early.severity == Severity.WARNING
    trace.completed = True
    ended = loss_not_decreasing(trace, classifier(), CFG50)[0]
    assert "provisional" not in ended.evidence and ended.severity is None  # the symptom's default: a fault
    late = loss_not_decreasing(make_trace(STUCK[:50]), classifier(), CFG50.replace(provisional_steps=50))[0]
    assert "provisional" not in late.evidence


def test_not_enough_steps_no_finding() -> None:
    assert loss_not_decreasing(make_trace(STUCK[:40]), classifier(), CFG) == []


def test_healthy_noisy_decreasing_never_fires() -> None:
    assert run_checks(loss_not_decreasing, HEALTHY, classifier()) == []


def test_converged_plateau_does_not_fire_even_after_window_rolls() -> None:
    losses = np.concatenate([HEALTHY, 0.05 + rng.normal(0, 0.01, 600).clip(-0.04)])
    assert run_checks(loss_not_decreasing, losses, classifier(), every=50, window=128) == []


def test_identical_losses_fire_early_at_run_start() -> None:
    losses = [2.5, 2.41] + [1.7] * 10
    found = loss_not_decreasing(make_trace(losses), classifier(), CFG)
    assert len(found) == 1 and found[0].step == 3 and found[0].evidence["constant_steps"] == 10


def test_identical_zero_loss_is_converged() -> None:
    assert loss_not_decreasing(make_trace([0.3, 0.1] + [0.0] * 20), classifier(), CFG) == []


def test_rising_loss_points_to_a_high_learning_rate() -> None:
    losses = 2.3 + 0.02 * np.arange(60) + rng.normal(0, 0.02, 60)
    found = loss_not_decreasing(make_trace(losses, lr=0.5), classifier(lr=0.5), CFG50)
    assert found and found[0].evidence["rising"] is True
    top = max(found[0].causes, key=lambda c: c.weight)
    assert top.category == Category.LEARNING_RATE and "lr=0.5" in top.fix and "try" in top.fix


def test_noisy_but_slowly_decreasing_small_batch_is_not_flat() -> None:
    # batch-size-1 style noise: cannot prove flatness after 50 steps
    losses = 2.3 * np.exp(-np.arange(60) / 200) * np.exp(rng.normal(0, 0.6, 60))
    assert loss_not_decreasing(make_trace(losses), classifier(), CFG) == []


def test_warmup_defers_the_verdict() -> None:
    lrs = list(np.linspace(1e-5, 1e-3, 60))
    assert loss_not_decreasing(make_trace(STUCK, lr=lrs), classifier(), CFG) == []


def test_a_decay_after_the_warmup_no_longer_defers_the_verdict() -> None:
    lrs = list(np.linspace(1e-4, 1e-3, 10)) + list(np.linspace(1e-3, 1e-4, 50))  # warm-up, then decay
    assert loss_not_decreasing(make_trace(STUCK, lr=lrs), classifier(), CFG50) != []


def test_a_loss_at_the_class_prior_entropy_is_at_chance() -> None:
    """Imbalanced classes (or a language model's unigram distribution): a model that ignores its input
    scores the entropy of the class frequencies, below log K; sitting there is not learning."""
    prior = 1.6
    model = classifier()
    model.data = DataInfo(y_prior_entropy=prior, n_classes=10)
    stuck_at_prior = prior + np.random.default_rng(2).normal(0, 0.03, 60)
    found = loss_not_decreasing(make_trace(stuck_at_prior), model, CFG50)
    assert len(found) == 1 and found[0].evidence["at_chance"] is True
    assert found[0].evidence["chance_level"] == prior


def _plain_regressor(y_std: float) -> ModelInfo:
    model = regressor()
    model.data = DataInfo(y_std=y_std)
    model.extra["loss_plain"] = True
    return model


def test_a_loss_that_falls_yet_stays_far_above_a_constant_prediction_is_not_learning() -> None:
    """A wide & deep regressor fed a raw input: the MSE falls from 2.7e5, then crawls, far above var(y)."""
    fall = np.concatenate([np.geomspace(2.7e5, 2000.0, 40), np.geomspace(2000.0, 900.0, 160)])
    losses = fall * np.exp(np.random.default_rng(3).normal(0, 0.05, 200))
    found = loss_not_decreasing(make_trace(losses, lr=1e-3), _plain_regressor(1.1), CFG)
    assert len(found) == 1 and found[0].evidence["worse_than_chance"] > 3
    healthy = 1.3 * np.exp(-np.arange(80) / 20) + 0.3
    assert loss_not_decreasing(make_trace(healthy, lr=1e-3), _plain_regressor(1.1), CFG) == []
    unplain = _plain_regressor(1.1)
    del unplain.extra["loss_plain"]  # a loss with terms of its own (a KL, a regularizer): not judged
    assert loss_not_decreasing(make_trace(losses, lr=1e-3), unplain, CFG) == []


def test_a_loss_far_above_chance_on_course_to_get_there_is_still_learning() -> None:
    """PyTorch's dynamic-net tutorial: a summed MSE that starts 1,000x above a constant prediction's (var(y)
    = 1,000), with steps a hundred-fold apart (the network draws its depth at random), and falls by a factor
    every few dozen steps: at that pace it reaches the chance level within as many steps again. Not worse
    than chance yet."""
    rng = np.random.default_rng(0)
    losses = np.geomspace(1e6, 3e4, 120) * np.exp(rng.normal(0, 1.5, 120))
    assert loss_not_decreasing(make_trace(losses, lr=1e-8), _plain_regressor(31.6), CFG) == []
    level = np.full(120, 3e4) * np.exp(rng.normal(0, 1.5, 120))  # the same noise around a level: a stall
    assert loss_not_decreasing(make_trace(level, lr=1e-8), _plain_regressor(31.6), CFG) != []


def test_regression_stuck_at_target_variance() -> None:
    y = np.random.default_rng(1).normal(5, 2, 64)
    losses = y.var() + rng.normal(0, 0.05, 60)
    found = loss_not_decreasing(make_trace(losses, target=y), regressor(), CFG50)
    assert found and found[0].evidence["at_chance"] is True
    assert abs(found[0].evidence["chance_level"] - y.var()) < 1e-9


def test_learned_then_stuck_at_chance_still_fires() -> None:
    # a poor start (loss 8) falls to chance and stays: learned relative to start, but at chance
    losses = np.concatenate([np.linspace(8, LOG10, 20), LOG10 + rng.normal(0, 0.02, 180)])
    found = run_checks(loss_not_decreasing, losses, classifier())
    assert found and found[-1].evidence["at_chance"] is True


def test_a_jump_that_training_recovers_from_is_not_a_rise() -> None:
    """Curriculum learning: the loss falls on easy data, jumps when the hard data comes in, then falls again.
    While it falls, the window's rise is over; one spiking step in a stuck run does not count as
    recovering."""
    easy = np.linspace(2.2, 0.35, 36)
    hard = 2.0 + 1.5 * np.exp(-np.arange(44) / 12) + rng.normal(0, 0.05, 44)
    assert loss_not_decreasing(make_trace(np.concatenate([easy, hard])), classifier(), CFG) == []
    stuck = LOG10 + rng.normal(0, 0.02, 80)
    stuck[30] = 6.0
    found = loss_not_decreasing(make_trace(stuck), classifier(), CFG)
    assert found and found[0].evidence["at_chance"] is True


# ---------------------------------------------------------------- oscillating_loss
def test_oscillating_loss_fires_with_high_lr_cause() -> None:
    losses = LOG10 * np.exp(np.random.default_rng(3).normal(0, 1.2, 60))
    found = oscillating_loss(make_trace(losses, lr=1.0), classifier(lr=1.0), CFG50)
    assert len(found) == 1 and found[0].symptom == Symptom.OSCILLATING_LOSS
    assert found[0].causes[0].category == Category.LEARNING_RATE
    assert "lr=1 is far above the usual SGD range" in found[0].causes[0].fix


def test_a_loss_that_swings_by_factors_yet_falls_many_fold_is_not_oscillating() -> None:
    # the swings come from a forward pass drawn at random (a third of the steps add a term that costs 60x
    # more), not from the updates; the level falls 30-fold meanwhile, the swings dwarfing it on the raw scale
    rng = np.random.default_rng(0)
    deep = np.where(rng.uniform(size=120) < 0.35, 60.0, 1.0)
    losses = np.geomspace(1e6, 3e4, 120) * np.exp(rng.normal(0, 0.5, 120)) * deep
    assert oscillating_loss(make_trace(losses, lr=1e-8), regressor(), CFG50) == []
    level = np.full(120, 1e6) * np.exp(rng.normal(0, 0.5, 120)) * deep  # the same swings around a level
    assert oscillating_loss(make_trace(level, lr=1e-8), regressor(), CFG50) != []


def test_oscillation_needs_min_steps() -> None:
    losses = LOG10 * np.exp(np.random.default_rng(3).normal(0, 1.2, 40))
    assert oscillating_loss(make_trace(losses), classifier(), CFG) == []


def test_noisy_converged_loss_is_not_oscillating() -> None:
    tail = 0.05 * np.exp(rng.normal(0, 0.8, 300))  # huge relative noise near zero
    losses = np.concatenate([HEALTHY[:100], tail])
    assert run_checks(oscillating_loss, losses, classifier()) == []


def test_healthy_decreasing_is_not_oscillating() -> None:
    assert run_checks(oscillating_loss, HEALTHY, classifier()) == []


# ---------------------------------------------------------------- slow_convergence
SLOW = 2.30 - 0.0003 * np.arange(150) + rng.normal(0, 0.002, 150)


def test_slow_convergence_fires_after_min_steps_with_low_lr_fix() -> None:
    model = classifier(lr=1e-5)
    assert slow_convergence(make_trace(SLOW[:90], lr=1e-5), model, CFG) == []
    found = slow_convergence(make_trace(SLOW[:120], lr=1e-5), model, CFG)
    assert len(found) == 1 and found[0].symptom == Symptom.SLOW_CONVERGENCE
    assert found[0].evidence["relative_decrease"] < 0.05
    assert "lr=1e-05 is far below the usual SGD range" in found[0].causes[0].fix
    assert "try 0.01" in found[0].causes[0].fix


def with_update_ratio(trace: Trace, ratio: float) -> Trace:
    """``trace`` rebuilt with layer 2 updating by ``ratio`` x its weights' norm at every step."""
    out = Trace(window=trace.window)
    for rec in trace.records():
        rec.stats[(2, Channel.WEIGHTS)] = summary.summarize(np.full(10, 1.0))
        rec.stats[(2, Channel.UPDATE)] = summary.summarize(np.full(10, ratio))
        out.append(rec)
    return out


def test_weights_moving_at_a_healthy_pace_contradict_a_too_low_learning_rate() -> None:
    """The same slow curve: with tiny updates the learning rate leads; with updates at CS231n's healthy
    ~1e-3 of the weights per step it is not what is too low, and yields to the other votes."""
    model = classifier(lr=0.05)
    slow = make_trace(SLOW[:120], lr=0.05)
    crawling = slow_convergence(with_update_ratio(slow, 1e-5), model, CFG)[0]
    paced = slow_convergence(with_update_ratio(slow, 1e-2), model, CFG)[0]
    assert crawling.causes[0].category == Category.LEARNING_RATE and crawling.causes[0].weight == 0.7
    assert paced.causes[0].category == Category.LEARNING_RATE
    assert paced.causes[0].weight == CFG.lr_low_contradicted_vote < 0.7
    assert paced.evidence["update_ratio"] == 1e-2


def test_slow_but_steady_decrease_is_not_loss_not_decreasing() -> None:
    assert loss_not_decreasing(make_trace(SLOW[:120], lr=1e-5), classifier(lr=1e-5), CFG) == []


def test_healthy_run_is_not_slow() -> None:
    assert run_checks(slow_convergence, HEALTHY, classifier()) == []


def test_flat_loss_is_not_slow_convergence() -> None:
    flat = LOG10 + rng.normal(0, 0.03, 150)
    assert slow_convergence(make_trace(flat), classifier(), CFG) == []


def test_nan_latest_loss_leaves_it_to_the_numerical_detector() -> None:
    losses = [*STUCK[:59], float("inf")]
    assert loss_not_decreasing(make_trace(losses), classifier(), CFG) == []


def test_one_lucky_first_batch_is_not_the_level_that_spikes_are_counted_from() -> None:
    # a slowly learning model on mini-batches of 10: the batch loss spreads x4 around a level that falls
    # from 15 to 12.5; the first batch happened to be a low one (7)
    noise = np.exp(np.random.default_rng(4).normal(0, 0.45, 100))
    losses = np.linspace(15, 12.5, 100) * noise
    losses[0] = 7.0
    assert oscillating_loss(make_trace(losses, lr=0.03), regressor(), CFG) == []


def _soft_target_bce(floor: float | None) -> ModelInfo:
    """A one-unit sigmoid under binary cross-entropy; ``floor``: the targets' mean binary entropy (soft
    targets such as ratings scaled to [0, 1]), None for hard 0/1 labels."""
    out = LayerInfo(0, "dense", "Dense", "sigmoid", units=1, params=9)
    model = ModelInfo(framework="keras", layers=[out], loss=LossInfo("binary_crossentropy", "probabilities"))
    model.data = DataInfo(y_min=0.0, y_max=1.0, y_is_integer=floor is None, y_bce_floor=floor)
    return model


def test_a_bce_plateau_near_the_soft_targets_floor_is_convergence_not_a_stall() -> None:
    """keras-io's collaborative filtering: BCE on ratings scaled to [0, 1] cannot go below their mean binary
    entropy (0.6 here). A loss that fell from 0.70 to 0.63 and stays has covered most of the way down to that
    floor; the same curve on hard 0/1 labels sits within 10% of chance (ln 2) and never learned."""
    rng = np.random.default_rng(3)
    curve = np.concatenate([np.linspace(0.70, 0.63, 20), 0.63 + rng.normal(0, 0.002, 180)])
    assert loss_not_decreasing(make_trace(curve), _soft_target_bce(0.6), CFG50) == []
    (found,) = loss_not_decreasing(make_trace(curve), _soft_target_bce(None), CFG50)
    assert found.evidence["at_chance"] is True


def test_the_soft_targets_floor_is_their_mean_binary_entropy() -> None:
    y = np.array([0.25, 0.75, 0.5, 1.0])
    expected = np.mean([-(p * np.log(p) + (1 - p) * np.log(1 - p)) for p in (0.25, 0.75, 0.5)] + [0.0])
    assert math.isclose(summary.soft_target_entropy(y), expected, rel_tol=1e-6)
    assert summary.soft_target_entropy(np.array([0.0, 1.0, 1.0])) is None  # hard labels: floor 0
    assert summary.soft_target_entropy(np.array([0.5, 3.0])) is None  # not in [0, 1]
