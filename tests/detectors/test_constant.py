"""constant_output: real constants at their producer, and no alarm for what is constant by construction."""

from __future__ import annotations

import numpy as np
from builders import layer, model, simulate_mlp, summ, trace_of, vec

from deeplocalize.config import Config
from deeplocalize.detectors.constant import constant_output, constant_output_preflight
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Category, Channel, Phase, Symptom


def run(layers: list, outputs: dict[int, list[np.ndarray]], steps: int = 20) -> list:
    rng = np.random.default_rng(1)
    records = [
        StepRecord(
            step=s,
            loss=1.0,
            data=summ(rng.normal(size=(32, 8))),
            stats={(i, Channel.OUTPUT): outs[s - 1] for i, outs in outputs.items()},
        )
        for s in range(1, steps + 1)
    ]
    return constant_output(trace_of(records), model(layers), Config())


def varying(n: int = 20, shape: tuple[int, ...] = (32, 16), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [summ(rng.normal(size=shape)) for _ in range(n)]


def const(value: float, n: int = 20, numel: int = 512) -> list[np.ndarray]:
    return [vec(numel, min=value, max=value, mean=value, std=0.0) for _ in range(n)]


def test_softmax_over_one_unit_is_reported_at_step_one() -> None:
    info = model(
        [
            layer(0, "fc", "Linear", "linear", 1, 9),
            layer(1, "dense_2", "Dense", "softmax", 1, softmax_axis_size=1),
        ]
    )
    trace = trace_of([StepRecord(step=1, loss=0.0)])
    (f,) = constant_output_preflight(trace, info, Config())
    assert (f.symptom, f.phase, f.layer.name, f.step) == (
        Symptom.CONSTANT_OUTPUT,
        Phase.FORWARD,
        "dense_2",
        1,
    )
    assert f.causes[0].category == Category.ACTIVATION and "use sigmoid" in f.causes[0].fix
    healthy = model(
        [
            layer(0, "fc", "Linear", "linear", 3, 27),
            layer(1, "sm", "Softmax", "softmax", 3, softmax_axis_size=3),
        ]
    )
    assert constant_output_preflight(trace, healthy, Config()) == []


def test_softmax_mean_is_always_one_over_k_and_that_is_not_a_fault() -> None:
    sim = simulate_mlp(head="softmax", steps=40)
    means = sim.trace.series(sim.model.output_layer.index, Channel.OUTPUT, "mean")
    assert np.allclose(means, 0.25)  # constant by construction
    assert constant_output(sim.trace, sim.model, Config()) == []


def test_batchnorm_layernorm_and_pass_through_layers_do_not_fire() -> None:
    layers = [
        layer(0, "fc", "Linear", "linear", 16, 144),
        layer(1, "bn", "BatchNorm1d", None, 16, 32),
        layer(2, "ln", "LayerNorm", None, 16, 32),
        layer(3, "drop", "Dropout", None, 16),
        layer(4, "flat", "Flatten", None, 16),
    ]
    normed = [vec(512, min=-2.5, max=2.5, mean=0.0, std=1.0) for _ in range(20)]  # same summary every step
    assert run(layers, {0: varying(), 1: normed, 2: normed, 3: varying(seed=2), 4: varying(seed=3)}) == []


def test_all_dead_relu_is_constant_and_what_follows_only_propagates() -> None:
    layers = [
        layer(0, "fc1", "Linear", "linear", 16, 144),
        layer(1, "relu1", "ReLU", "relu", 16),
        layer(2, "flatten", "Flatten", None, 16),
        layer(3, "drop", "Dropout", None, 16),
        layer(4, "fc2", "Linear", "linear", 4, 68),
    ]
    found = run(layers, {0: varying(), 1: const(0.0), 2: const(0.0), 3: const(0.0), 4: const(0.3, numel=128)})
    assert [(f.layer.name, f.step) for f in found] == [("relu1", 1)]
    assert {c.category for c in found[0].causes} >= {Category.LEARNING_RATE, Category.ACTIVATION}


def test_final_output_constant_across_the_batch_for_many_steps() -> None:
    layers = [layer(0, "fc1", "Linear", "linear", 16, 144), layer(1, "out", "Linear", "sigmoid", 1, 17)]
    out = varying(8, shape=(32, 1)) + const(1.0, 12, numel=32)
    found = run(layers, {0: varying(), 1: out})
    assert [(f.layer.name, f.step) for f in found] == [("out", 9)]
    assert run(layers, {0: varying(), 1: varying(20, shape=(32, 1), seed=5)}) == []


def test_a_single_value_is_not_judged() -> None:
    layers = [layer(0, "fc1", "Linear", "linear", 16, 144), layer(1, "out", "Linear", "linear", 1, 17)]
    assert run(layers, {0: varying(), 1: const(0.7, numel=1)}) == []  # batch of one, one unit


def test_healthy_runs_have_no_constant_output() -> None:
    for kw in ({}, {"head": "sigmoid", "widths": (8, 16, 1)}, {"head": "mse", "widths": (8, 16, 2)}):
        sim = simulate_mlp(steps=40, **kw)
        assert constant_output(sim.trace, sim.model, Config()) == [], kw
