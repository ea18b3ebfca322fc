"""unchanged_weights: trainable layers that stop changing while they receive gradients."""

from __future__ import annotations

import pytest
from builders import layer, model, simulate_mlp, trace_of, vec

from deeplocalize.config import Config
from deeplocalize.detectors.weights import unchanged_weights
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Category, Channel, Phase, Severity, Symptom


def test_layer_left_out_of_the_optimizer_is_reported_alone() -> None:
    sim = simulate_mlp(not_in_optimizer=("fc1",), steps=20)
    found = unchanged_weights(sim.trace, sim.model, Config())
    assert [(f.symptom, f.phase, f.layer.name, f.step) for f in found] == [
        (Symptom.UNCHANGED_WEIGHTS, Phase.UPDATE, "fc1", 1)
    ]  # activation modules (no params) are skipped
    assert found[0].causes[0].category == Category.TRAINING and "`fc1`" in found[0].causes[0].fix


def test_a_normalization_layer_left_out_of_the_optimizer_is_a_warning_and_any_other_layer_a_fault() -> None:
    """Frozen BatchNorm while the rest learns is the usual fine-tuning set-up (Lightning's BaseFinetuning with
    train_bn=False leaves its parameters out of the optimizer): a warning; a frozen Linear stays a fault."""
    for kind, severity in (("BatchNorm1d", Severity.WARNING), ("LayerNormalization", Severity.WARNING),
                           ("Linear", None), ("SpectralNormalization", None), ("NormedLinear", None)):
        info = model([layer(0, "fc", "Linear", "linear", 4, 36), layer(1, "frozen", kind, "linear", 4, 8)],
                     lr=0.1)
        records = [
            StepRecord(step=s, loss=1.0 - 0.01 * s, lr=0.1, stats={
                (0, Channel.WEIGHTS): vec(36, norm=3.0 + 0.1 * s), (0, Channel.UPDATE): vec(36, norm=0.1),
                (0, Channel.WEIGHT_GRAD): vec(36, norm=0.5),
                (1, Channel.WEIGHTS): vec(8, norm=2.0), (1, Channel.UPDATE): vec(8, norm=0.0),
                (1, Channel.WEIGHT_GRAD): vec(8, norm=0.5),
            })
            for s in range(1, 11)
        ]
        (f,) = unchanged_weights(trace_of(records), info, Config())
        assert (f.layer.name, f.severity) == ("frozen", severity), kind
        assert ("usual when fine-tuning" in f.message) == (severity is not None)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_learning_rate_zero_is_one_model_level_finding(framework: str) -> None:
    sim = simulate_mlp(lr=0.0, steps=20)
    sim.model.framework = framework  # Keras too: an lr of 0 decides it before "layers not trainable"
    (f,) = unchanged_weights(sim.trace, sim.model, Config())
    assert f.layer is None and f.causes[0].category == Category.LEARNING_RATE
    assert "learning rate is 0" in f.causes[0].fix


def test_missing_optimizer_step_points_to_the_training_loop() -> None:
    info = model([layer(0, "fc", "Linear", "linear", 4, 36)], lr=0.1)
    records = [
        StepRecord(
            step=s,
            loss=1.0,
            lr=0.1,
            stats={
                (0, Channel.WEIGHTS): vec(36, norm=3.0),
                (0, Channel.UPDATE): vec(36, norm=0.0),
                (0, Channel.WEIGHT_GRAD): vec(36, norm=0.5),
            },
        )
        for s in range(1, 11)
    ]
    (f,) = unchanged_weights(trace_of(records), info, Config())
    assert (
        f.layer is None
        and f.causes[0].category == Category.TRAINING
        and "optimizer.step()" in f.causes[0].fix
    )


def test_deliberately_frozen_layers_vanishing_gradients_and_healthy_runs_are_not_reported() -> None:
    sim = simulate_mlp(frozen=("fc0",), steps=20)
    assert unchanged_weights(sim.trace, sim.model, Config()) == []
    sim = simulate_mlp(widths=(8, *(32,) * 10, 4), acts="sigmoid", steps=20)  # tiny updates from tiny grads
    assert unchanged_weights(sim.trace, sim.model, Config()) == []
    for kw in ({}, {"lr": 0.001}, {"momentum": 0.9, "lr": 0.02}):
        sim = simulate_mlp(steps=40, **kw)
        assert unchanged_weights(sim.trace, sim.model, Config()) == [], kw


def test_too_few_steps_is_not_enough_evidence() -> None:
    sim = simulate_mlp(lr=0.0, steps=4)
    assert unchanged_weights(sim.trace, sim.model, Config()) == []


def _converged_scalar(grad: float = 1e-5) -> list[StepRecord]:
    """A weight of 3.0 at a stationary point: its gradient is rounding noise and every update rounds away."""
    return [StepRecord(step=s, loss=0.56, lr=None, stats={
        (0, Channel.WEIGHTS): vec(1, norm=3.0), (0, Channel.UPDATE): vec(1, norm=0.0),
        (0, Channel.WEIGHT_GRAD): vec(1, norm=grad)}) for s in range(1, 11)]


def test_updates_rounded_away_at_convergence_are_not_a_frozen_layer() -> None:
    # 0.01 * 1e-5 = 1e-7 < float32 spacing at 3.0 (3.6e-7): plain gradient descent could not move it
    info = model([layer(0, "w", "Tensor", "linear", 1, 1)])
    info.optimizer = None
    info.layers[0].extra["update_gain"] = 0.01  # as the probe saw it while the weight still moved
    assert unchanged_weights(trace_of(_converged_scalar()), info, Config()) == []
    # the same stall with a gradient an update of that gain would show: the weights should have moved
    (f,) = unchanged_weights(trace_of(_converged_scalar(grad=1e-3)), info, Config())
    assert f.symptom == Symptom.UNCHANGED_WEIGHTS
    # never seen moving, no optimizer to say its step size: judged as before
    del info.layers[0].extra["update_gain"]
    assert len(unchanged_weights(trace_of(_converged_scalar()), info, Config())) == 1


@pytest.mark.parametrize(("optimizer", "lr", "reported"), [("sgd", 0.01, False), ("adam", 0.01, True),
                                                           ("sgd", 0.0, True)])
def test_a_plain_optimizers_learning_rate_says_whether_updates_round_away(optimizer: str, lr: float,
                                                                          reported: bool) -> None:
    # no gain seen: plain SGD's lr is its step per gradient; Adam's steps do not scale with the gradient
    # and an lr of 0 is a fault whatever the gradient
    info = model([layer(0, "w", "Tensor", "linear", 1, 1)], optimizer=optimizer, lr=lr)
    assert bool(unchanged_weights(trace_of(_converged_scalar()), info, Config())) is reported
