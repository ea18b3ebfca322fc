"""exploding_tensor: weights and forward outputs far beyond any healthy scale, at the producer."""

from __future__ import annotations

from builders import layer, model, simulate_mlp, trace_of, vec

from deeplocalize.config import Config
from deeplocalize.detectors.exploding import exploding_tensor
from deeplocalize.detectors.numerical import numerical_error
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Category, Channel, Phase

INFO = model(
    [
        layer(0, "fc0", "Linear", "linear", 16, 144),
        layer(1, "act0", "ReLU", "relu", 16),
        layer(2, "out", "Linear", "linear", 1, 17),
    ]
)


def out_trace(mags: list[float], target: float) -> StepRecord:
    records = []
    for s, m in enumerate(mags, start=1):
        stats = {
            (0, Channel.OUTPUT): vec(160, min=-2.0, max=2.0),
            (1, Channel.OUTPUT): vec(160, min=0.0, max=2.0),
            (2, Channel.OUTPUT): vec(10, min=-m, max=m),
        }
        records.append(
            StepRecord(
                step=s,
                loss=1.0,
                stats=stats,
                data=vec(80, min=-1.0, max=1.0),
                target=vec(10, min=0.0, max=target),
            )
        )
    return trace_of(records)


def test_large_lr_explodes_weights_before_they_overflow() -> None:
    sim = simulate_mlp(lr=5.0, steps=30)
    found = exploding_tensor(sim.trace, sim.model, Config())
    weights = [f for f in found if f.phase == Phase.WEIGHTS]
    assert len(weights) == 1 and weights[0].causes[0].category == Category.LEARNING_RATE
    nan_steps = [
        f.step for s in range(1, 31) for f in numerical_error(trace_of(sim.records[:s]), sim.model, Config())
    ]
    assert nan_steps and weights[0].step < min(nan_steps)


def test_output_far_beyond_data_and_targets_is_reported_at_the_producer_only() -> None:
    found = exploding_tensor(out_trace([1.0, 5.0, 3e7, 5e8], target=1.0), INFO, Config())
    assert [(f.phase, f.layer.name, f.step) for f in found] == [(Phase.FORWARD, "out", 3)]


def test_regression_output_as_large_as_its_targets_is_not_exploding() -> None:
    assert exploding_tensor(out_trace([2e6, 3e6, 5e6], target=5e6), INFO, Config()) == []


def test_healthy_runs_do_not_explode() -> None:
    for kw in ({}, {"widths": (8, 64, 64, 64, 4)}, {"head": "mse", "widths": (8, 16, 2)}):
        sim = simulate_mlp(steps=40, **kw)
        assert exploding_tensor(sim.trace, sim.model, Config()) == []
