"""exploding_gradient (ratio, growth, accumulation) and vanishing_gradient; quiet on healthy deep-ish nets."""

from __future__ import annotations

import numpy as np
from builders import layer, model, simulate_mlp, trace_of, vec

from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.detectors.gradients import exploding_gradient, vanishing_gradient
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Category, Channel, Phase

INFO = model(
    [
        layer(0, "fc0", "Linear", "linear", 16, 144),
        layer(1, "act0", "ReLU", "relu", 16),
        layer(2, "fc1", "Linear", "linear", 16, 272),
        layer(3, "act1", "ReLU", "relu", 16),
        layer(4, "out", "Linear", "linear", 4, 68),
    ]
)


def grads(first: float, last: float, steps: int = 20, loss: float = 1.0, middle: float = 1.0) -> object:
    rng = np.random.default_rng(0)
    records = []
    for s in range(1, steps + 1):
        noise = rng.uniform(0.8, 1.2, 3)
        stats = {
            (i, Channel.WEIGHT_GRAD): vec(n, norm=v * k)
            for i, n, v, k in zip((0, 2, 4), (144, 272, 68), (first, middle, last), noise, strict=True)
        }
        records.append(StepRecord(step=s, loss=loss * rng.uniform(0.95, 1.05), stats=stats))
    return trace_of(records)


def test_first_to_last_ratio_above_70_is_exploding_at_the_first_layer() -> None:
    found = exploding_gradient(grads(first=200.0, last=1.0), INFO, Config())
    assert [(f.phase, f.layer.name, f.evidence["pattern"]) for f in found] == [
        (Phase.BACKWARD, "fc0", "ratio")
    ]
    assert exploding_gradient(grads(first=20.0, last=1.0), INFO, Config()) == []


def test_missing_zero_grad_is_a_training_fault() -> None:
    sim = simulate_mlp(zero_grad=False, lr=0.1, steps=100)
    found = exploding_gradient(sim.trace, sim.model, Config())
    assert found and found[0].layer is None and found[0].evidence["pattern"] == "accumulating"
    assert found[0].causes[0].category == Category.TRAINING and "zero_grad" in found[0].causes[0].fix


def test_growing_gradients_are_no_accumulation_where_resets_were_seen_or_the_loss_is_adversarial() -> None:
    """The probe saw the gradients reset (``grads_reset_seen``), or the model is trained against another (a
    GAN's generator, whose gradient grows as its discriminator improves and whose loss need not fall)."""
    sim = simulate_mlp(zero_grad=False, lr=0.1, steps=100)
    for fact in ("grads_reset_seen", "adversarial"):
        sim.model.extra[fact] = True
        found = exploding_gradient(sim.trace, sim.model, Config())
        assert [f.evidence["pattern"] for f in found if f.evidence["pattern"] == "accumulating"] == []
        del sim.model.extra[fact]


def test_deep_sigmoid_net_vanishes_and_blames_the_sigmoids() -> None:
    sim = simulate_mlp(widths=(8, *(32,) * 10, 4), acts="sigmoid", steps=40)
    found = vanishing_gradient(sim.trace, sim.model, Config())
    assert len(found) == 1 and found[0].phase == Phase.BACKWARD
    assert found[0].causes[0].category == Category.ACTIVATION and "sigmoid" in found[0].causes[0].fix
    assert exploding_gradient(sim.trace, sim.model, Config()) == []


def test_autotrainer_ratio_rule_and_the_tiny_absolute_rule() -> None:
    found = vanishing_gradient(grads(first=1e-6, last=1.0, middle=1e-4), INFO, Config())
    assert [f.layer.name for f in found] == ["fc1"]  # where the gradient first became small, backward order
    assert vanishing_gradient(grads(first=1e-6, last=1.0, middle=1.0), INFO, Config())[0].layer.name == "fc0"
    assert vanishing_gradient(grads(first=1e-3, last=1.0), INFO, Config()) == []  # first norm not small


def test_a_tiny_gradient_in_one_middle_layer_with_healthy_ones_before_it_has_not_vanished() -> None:
    """An attention key projection gets a tiny gradient when attention is diffuse, while the layers before it
    (through the residual stream) get healthy ones: nothing faded along the depth, and no saturating
    activation is to blame."""
    assert vanishing_gradient(grads(first=1.0, last=1.0, middle=1e-8, steps=60), INFO, Config()) == []
    found = vanishing_gradient(grads(first=1e-8, last=1.0, middle=1e-8, steps=60), INFO, Config())
    assert [f.layer.name for f in found] == ["fc1"]  # fading from the input up to fc1: named where it starts


def test_scalar_tensors_at_a_stationary_point_have_no_gradient_to_vanish() -> None:
    """y = a + b * P3(c + d * x) fitted on x symmetric about 0 (PyTorch's custom autograd.Function tutorial):
    a and c are watched as tensors of one scalar each, and their partial derivatives are ~0 by symmetry
    while b's and d's are large. One coordinate at its optimum is not a layer whose gradient vanished."""
    scalars = model([layer(i, name, "Tensor", None, 1, 1) for i, name in enumerate("abcd")])
    rng = np.random.default_rng(0)
    records = [StepRecord(step=s, loss=100.0 * rng.uniform(0.95, 1.05), stats={
        (i, Channel.WEIGHT_GRAD): vec(1, norm=v * rng.uniform(0.8, 1.2))
        for i, v in enumerate((1e-6, 50.0, 1e-5, 6e3))}) for s in range(1, 61)]
    assert vanishing_gradient(trace_of(records), scalars, Config()) == []
    # the same norms on layers of many weights: the AUTOTRAINER ratio rule holds
    wide = model([layer(i, name, "Linear", "linear", 8, 72) for i, name in enumerate("abcd")])
    widened = [StepRecord(step=r.step, loss=r.loss, stats={k: vec(72, norm=float(v[sm.IDX["norm"]]))
                                                           for k, v in r.stats.items()}) for r in records]
    assert vanishing_gradient(trace_of(widened), wide, Config()) != []


def test_a_zero_gradient_at_the_output_itself_is_not_vanishing_along_the_depth() -> None:
    """A saturated softmax whose probabilities the loss clips (loss -log(1e-7) = 16.1) sends no gradient
    at all: nothing vanished between layers, so no layer is blamed for it."""
    assert vanishing_gradient(grads(first=1e-12, last=1e-12, middle=1e-12, loss=16.1), INFO, Config()) == []


def test_a_tiny_gradient_growing_to_its_neighbours_size_is_no_explosion() -> None:
    """Attention keys at the end of a plateau: 1e-5 -> 0.05 (5,000-fold), still below what the other
    layers had from the start (1.0); the same growth to 50 is an explosion."""
    for end, exploding in ((0.05, False), (50.0, True)):
        records = []
        for s in range(1, 41):
            growth = 1e-5 * (end / 1e-5) ** (max(0, s - 20) / 20)
            stats = {(i, Channel.WEIGHT_GRAD): vec(n, norm=v)
                     for i, n, v in zip((0, 2, 4), (144, 272, 68), (growth, 1.0, 1.0), strict=True)}
            records.append(StepRecord(step=s, loss=1.0, stats=stats))
        found = exploding_gradient(trace_of(records), INFO, Config())
        assert bool(found) is exploding, (end, [f.message for f in found])


def test_under_an_adaptive_optimizer_growth_counts_from_the_largest_gradient_of_the_start() -> None:
    """A key's gradient 1e-5 -> 3 (300,000-fold from its own start, 3x the others' 1.0): an explosion under
    SGD, whose steps grow with it; not under Adam, whose steps do not (a plateau ending, as in a BERT
    trained from scratch); 1e-5 -> 2,000 (2,000x the others') is one under both."""
    def run(end: float, optimizer: str) -> bool:
        records = []
        for s in range(1, 41):
            growth = 1e-5 * (end / 1e-5) ** (max(0, s - 20) / 20)
            stats = {(i, Channel.WEIGHT_GRAD): vec(n, norm=v)
                     for i, n, v in zip((0, 2, 4), (144, 272, 68), (1.0, 1.0, growth), strict=True)}
            records.append(StepRecord(step=s, loss=1.0, stats=stats))
        info = model(INFO.layers, optimizer=optimizer)
        return bool(exploding_gradient(trace_of(records), info, Config()))

    assert run(3.0, "sgd") and not run(3.0, "adamw") and not run(3.0, "Adam")
    assert run(2000.0, "adam") and run(2000.0, "sgd")


def test_small_gradients_of_a_converged_model_are_not_vanishing() -> None:
    assert vanishing_gradient(grads(first=1e-9, last=1e-8, middle=1e-9, loss=1e-5), INFO, Config()) == []


def test_healthy_deepish_nets_have_no_gradient_findings() -> None:
    for kw in (
        {"widths": (8, 64, 64, 64, 64, 64, 4)},
        {"acts": "tanh"},
        {"head": "softmax"},
        {"momentum": 0.9, "lr": 0.02},
        {"lr": 0.001, "steps": 100},
        {"batch": 1, "lr": 0.01},
    ):
        sim = simulate_mlp(steps=kw.pop("steps", 60), **kw)
        assert exploding_gradient(sim.trace, sim.model, Config()) == [], kw
        assert vanishing_gradient(sim.trace, sim.model, Config()) == [], kw


def test_the_gradient_norms_shared_within_a_check_follow_new_steps() -> None:
    # both gradient detectors read one cached norm matrix per step; a stale one would miss the explosion
    trace = grads(first=1.0, last=1.0)
    assert exploding_gradient(trace, INFO, Config()) == []
    for s in range(21, 41):
        stats = {(i, Channel.WEIGHT_GRAD): vec(n, norm=v)
                 for i, n, v in zip((0, 2, 4), (144, 272, 68), (200.0, 1.0, 1.0), strict=True)}
        trace.append(StepRecord(step=s, loss=1.0, stats=stats))
    assert [f.evidence["pattern"] for f in exploding_gradient(trace, INFO, Config())] == ["ratio"]


def _stack(fade: float, steps: int = 60, depth: int = 8) -> tuple[object, object]:
    """A stack of ``depth`` weighted layers with sigmoids between them, the gradient norm ``fade`` times
    smaller at each layer towards the input (noisy per step), the loss flat at chance."""
    rng = np.random.default_rng(0)
    layers = []
    for k in range(depth):
        layers.append(layer(2 * k, f"fc{k}", "Linear", "linear", 64, 4160))
        if k < depth - 1:
            layers.append(layer(2 * k + 1, f"act{k}", "Sigmoid", "sigmoid", 64))
    records = []
    for s in range(1, steps + 1):
        stats = {(2 * k, Channel.WEIGHT_GRAD): vec(4160, norm=0.4 / fade ** (depth - 1 - k) * rng.uniform(
            0.7, 1.3)) for k in range(depth)}
        records.append(StepRecord(step=s, loss=2.30 * rng.uniform(0.99, 1.01), stats=stats))
    return trace_of(records), model(layers)


def test_a_gradient_fading_layer_by_layer_through_a_sigmoid_stack_has_vanished_at_its_first_layer() -> None:
    """3x smaller at each of 7 layers: the first layer's norm (1.8e-4) is above the absolute limit of the
    fading rule (1e-4) and its RMS far above the SageMaker one, but the steady fading is the saturating
    stack's signature."""
    trace, info = _stack(fade=3.0)
    found = vanishing_gradient(trace, info, Config())
    assert [(f.layer.name, f.evidence["rule"], f.severity) for f in found] == [("fc0", "chain", "fault")]
    assert found[0].causes[0].category == Category.ACTIVATION and found[0].causes[0].layer.name == "act0"
    trace, info = _stack(fade=1.5)  # a gentler slope, as in healthy deep networks: nothing
    assert vanishing_gradient(trace, info, Config()) == []
