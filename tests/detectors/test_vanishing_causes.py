"""The causes a vanishing gradient votes for: the initialization is a stated cause only when the weights
started far below the default scale with no normalization between them."""

from __future__ import annotations

import math

import numpy as np

from deeplocalize import causes as cw
from deeplocalize import summary
from deeplocalize.config import Config
from deeplocalize.detectors.vanishing_causes import vanishing_causes
from deeplocalize.model import LayerInfo, ModelInfo
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Channel

CFG = Config()
DEFAULT_STD = 1 / math.sqrt(3 * 64)  # PyTorch's default for fan_in 64


def _tanh_stack(std: float | None, norm_at: int | None = None) -> ModelInfo:
    layers: list[LayerInfo] = []
    for i in range(5):
        if i == norm_at:
            layers.append(LayerInfo(len(layers), f"ln{i}", "LayerNorm", None, units=64, params=128,
                                    trainable_params=128))
        init = None if std is None else {"kernel_std": std, "kernel_mean": 0.0, "fan_in": 64, "fan_out": 64}
        layers.append(LayerInfo(len(layers), f"fc{i}", "Linear", "tanh", units=64, params=4160,
                                trainable_params=4160, extra={} if init is None else {"init": init}))
    layers.append(LayerInfo(len(layers), "head", "Linear", "linear", units=10, params=650,
                            trainable_params=650))
    return ModelInfo("torch", layers=layers)


def _init_vote(model: ModelInfo, trace: Trace | None = None) -> tuple[float, str | None]:
    top = model.layers[-3].index
    vote = next(c for c in vanishing_causes(trace or Trace(), model, CFG, top)
                if c.category == Category.INITIALIZATION)
    return vote.weight, None if vote.layer is None else vote.layer.name


def test_weights_far_below_the_default_scale_make_the_initialization_the_stated_cause() -> None:
    weight, layer = _init_vote(_tanh_stack(0.01))  # 7x below
    assert weight == cw.VANISHING_INIT_MEASURED and layer == "fc0"  # named at the first layer


def test_default_scales_and_normalized_stacks_keep_the_weak_guess() -> None:
    assert _init_vote(_tanh_stack(DEFAULT_STD))[0] == cw.VANISHING_INIT
    assert _init_vote(_tanh_stack(DEFAULT_STD / 2))[0] == cw.VANISHING_INIT  # 2x below: not enough
    assert _init_vote(_tanh_stack(0.01, norm_at=1))[0] == cw.VANISHING_INIT  # a LayerNorm restores the scale


def test_without_the_initial_kernel_the_step_one_weights_bound_it() -> None:
    """Keras layers: no kernel read before the first update; the step-1 weights plus the update bound it."""
    model = _tanh_stack(None)
    rec = StepRecord(step=1, loss=2.3)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        rec.stats[(layer.index, Channel.WEIGHTS)] = summary.summarize(rng.normal(0, 0.01, layer.params))
        rec.stats[(layer.index, Channel.UPDATE)] = summary.summarize(np.full(layer.params, 1e-6))
    trace = Trace()
    trace.append(rec)
    assert _init_vote(model, trace)[0] == cw.VANISHING_INIT_MEASURED
