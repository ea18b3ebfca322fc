"""poor_initialization: scale, constant kernels, dead ReLUs at birth, variance drift; default inits quiet."""

from __future__ import annotations

import math

from builders import layer, model, simulate_mlp, trace_of, vec

from deeplocalize.config import Config
from deeplocalize.detectors.initialization import poor_initialization
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Category, Channel, Phase, Symptom


def found(**kw: object) -> list[tuple[str, str]]:
    sim = simulate_mlp(steps=1, **kw)
    return [(f.layer.name, f.evidence["rule"]) for f in poor_initialization(sim.trace, sim.model, Config())]


def test_zero_and_constant_hidden_kernels_are_symmetric_units() -> None:
    assert found(weight_const=0.0, bias_init=0.0) == [("fc0", "constant"), ("fc1", "constant")]
    assert ("fc0", "constant") in found(weight_const=0.05, bias_init=0.05)
    assert ("fc0", "constant") in found(
        weight_const=0.05, bias_init=0.05, lr=1.0
    )  # moved by a big first step


def test_biases_that_kill_every_relu_at_step_one() -> None:
    sim = simulate_mlp(steps=1, bias_init=-10.0)
    (first, *_) = poor_initialization(sim.trace, sim.model, Config())
    assert (first.symptom, first.phase, first.layer.name) == (
        Symptom.POOR_INITIALIZATION,
        Phase.WEIGHTS,
        "fc0",
    )
    assert first.causes[0].category == Category.INITIALIZATION and "`act0`" in first.causes[0].fix


def test_weights_far_above_he_scale() -> None:
    assert ("fc1", "scale") in found(weight_std=3.0)  # fan_in 32: 12x He
    assert found(weight_std=1.0) == []  # 4x He: unusual, not flagged


def test_default_he_and_glorot_inits_never_fire() -> None:
    assert found() == []  # PyTorch default
    assert found(widths=(8, 64, 64, 64, 64, 4)) == []
    assert found(widths=(8, 64, 64, 4), weight_std=math.sqrt(2 / 64)) == []  # He (fan_in 64)
    # Keras glorot_uniform on a narrow input and a wide layer: std sqrt(2/(2+512)), well below 1/sqrt(fan_in)
    info = model(
        [layer(0, "dense", "Dense", "relu", 512, 2 * 512 + 512), layer(1, "out", "Dense", "linear", 1, 513)]
    )
    w = vec(1536, min=-0.1, max=0.1, mean=0.0, std=math.sqrt(2 / 514) * math.sqrt(1024 / 1536), norm=2.4)
    rec = StepRecord(
        step=1, loss=1.0, stats={(0, Channel.WEIGHTS): w, (0, Channel.UPDATE): vec(1536, norm=0.01)}
    )
    assert poor_initialization(trace_of([rec]), info, Config()) == []


def test_zero_initialized_last_layer_is_a_healthy_choice() -> None:
    info = model([layer(0, "fc", "Linear", "linear", 16, 144), layer(1, "out", "Linear", "linear", 4, 68)])
    stats = {
        (0, Channel.WEIGHTS): vec(144, mean=0.0, std=0.19, norm=2.3),
        (0, Channel.UPDATE): vec(144, norm=0.01),
        (1, Channel.WEIGHTS): vec(68, mean=0.0, std=0.0, norm=0.0),
        (1, Channel.UPDATE): vec(68, norm=0.0),
    }
    assert poor_initialization(trace_of([StepRecord(step=1, loss=1.0, stats=stats)]), info, Config()) == []


def relu_model(m2: list[float]) -> list:
    layers, stats = [], {}
    for k, v in enumerate(m2):
        layers += [
            layer(2 * k, f"fc{k}", "Linear", "linear", 64, 64 * 65),
            layer(2 * k + 1, f"r{k}", "ReLU", "relu", 64),
        ]
        stats[(2 * k + 1, Channel.OUTPUT)] = vec(64 * 32, mean=0.0, std=math.sqrt(v), dead_frac=0.0)
    return poor_initialization(trace_of([StepRecord(step=1, loss=1.0, stats=stats)]), model(layers), Config())


def test_activation_variance_drifting_per_layer() -> None:
    (f,) = relu_model([1.0, 1e-2, 1e-4, 1e-6])  # 100x shrink per layer
    assert f.evidence["rule"] == "variance_drift" and f.phase == Phase.FORWARD
    assert relu_model([1.0, 1 / 6, 1 / 36, 1 / 216]) == []  # PyTorch default init: ~6x per layer


def _transformer_init(proj_std: float) -> list[str]:
    """A tiny GPT (n_embd 64, 4 blocks) as read before the first update: N(0, 0.02) kernels, and each
    block's residual projection at ``proj_std``."""
    layers, k = [], 0
    for block in range(4):
        for name, std in (("attn.c_attn", 0.02), ("attn.c_proj", proj_std), ("mlp.c_fc", 0.02),
                          ("mlp.c_proj", proj_std)):
            info = layer(k, f"h.{block}.{name}", "Linear", units=64, params=64 * 65)
            info.extra["init"] = {"kernel_std": std, "kernel_mean": 0.0, "fan_in": 64, "fan_out": 64}
            layers.append(info)
            k += 1
    layers.append(layer(k, "lm_head", "Linear", units=65, params=64 * 65))
    trace = trace_of([StepRecord(step=1, loss=4.2)])
    return [f.layer.name for f in poor_initialization(trace, model(layers), Config())]


def test_gpt2_residual_scaling_is_a_deliberate_scheme() -> None:
    assert _transformer_init(0.02 / math.sqrt(2 * 4)) == []  # nanoGPT / minGPT: 0.02 / sqrt(2 n_layer)
    assert "h.0.attn.c_proj" in _transformer_init(0.0005)  # 40x below N(0, 0.02): not that scheme
