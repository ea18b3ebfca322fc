"""Rules added while calibrating on the bug zoo + healthy suite: each with a positive and an adjacent
negative case."""

from __future__ import annotations

import math

import numpy as np
from builders import layer, model, simulate_mlp, trace_of, vec

from deeplocalize import fixes
from deeplocalize import summary as sm
from deeplocalize.config import Config
from deeplocalize.detectors import _common as cm
from deeplocalize.detectors._curve import initial_level
from deeplocalize.detectors.curves import narrow_bottleneck, short_training
from deeplocalize.detectors.gradients import exploding_gradient
from deeplocalize.detectors.gradients_recurrent import recurrent_no_gradient
from deeplocalize.detectors.initialization import poor_initialization
from deeplocalize.detectors.numerical import numerical_error
from deeplocalize.detectors.preflight_data import check_target_scale
from deeplocalize.detectors.weights import frozen_model
from deeplocalize.diagnose import diagnose, linear_stack
from deeplocalize.diagnosis import CauseHint, Finding
from deeplocalize.model import DataInfo, LossInfo, ModelInfo, OptimizerInfo
from deeplocalize.severity import resolve
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Category, Channel, Phase, Severity, Symptom

CFG = Config()


def rules(**kw: object) -> list[tuple[str, str]]:
    sim = simulate_mlp(steps=1, **kw)
    return [(f.layer.name, f.evidence["rule"]) for f in poor_initialization(sim.trace, sim.model, CFG)]


# ---------------------------------------------------------------- poor_initialization
def test_constant_kernel_with_zero_bias_is_two_valued_and_found() -> None:
    assert ("fc0", "constant") in rules(weight_const=0.05, bias_init=0.0, lr=1e-3)
    assert rules(lr=1e-3) == []  # a random kernel with zero-ish biases is not two-valued


def test_a_first_update_that_dominates_the_weights_is_not_a_constant_start() -> None:
    # w = w_init + update with ||update|| >> ||w_init||: std(w) ~ std(update) says nothing about w_init
    info = model([layer(0, "conv1", "Conv2d", "linear", 8, 80), layer(1, "act", "ReLU", "relu", 8),
                  layer(2, "out", "Linear", "linear", 10, 650)])
    w = vec(80, min=-1.27, max=1.21, mean=-0.547, std=0.8156, norm=8.78, zero_frac=0.0)
    up = vec(80, min=-1.0, max=1.0, mean=-0.575, std=0.8179, norm=8.94, zero_frac=0.0)
    rec = StepRecord(step=1, loss=2.3, stats={(0, Channel.WEIGHTS): w, (0, Channel.UPDATE): up})
    assert poor_initialization(trace_of([rec]), info, CFG) == []
    # ... but weights equal to their update (an all-zero start) still are
    rec = StepRecord(step=1, loss=2.3, stats={(0, Channel.WEIGHTS): up, (0, Channel.UPDATE): up.copy()})
    assert [f.evidence["rule"] for f in poor_initialization(trace_of([rec]), info, CFG)] == ["constant"]


def test_model_wide_large_init_spans_earlier_layers() -> None:
    found = rules(widths=(8, 64, 64, 4), weight_std=3.0, lr=1e-4)
    assert ("fc0", "scale_span") in found or ("fc0", "scale") in found  # 6x He at fan_in 9: joins the span
    assert rules(widths=(8, 64, 64, 4), weight_std=1.0, lr=1e-4) == []  # < 10x He anywhere: nothing


# ---------------------------------------------------------------- frozen model
def test_every_layer_frozen_is_a_training_fault_at_step_one() -> None:
    frozen = model([layer(0, "fc", "Linear", "linear", 8, 72, trainable=0),
                    layer(1, "out", "Linear", "linear", 2, 18, trainable=0)])
    rec = StepRecord(step=1, loss=0.7)
    (f,) = frozen_model(trace_of([rec]), frozen, CFG)
    assert f.symptom == Symptom.UNCHANGED_WEIGHTS and f.causes[0].category == Category.TRAINING
    partly = model([layer(0, "fc", "Linear", "linear", 8, 72, trainable=0),
                    layer(1, "out", "Linear", "linear", 2, 18)])
    assert frozen_model(trace_of([rec]), partly, CFG) == []  # fine-tuning a head: healthy


# ---------------------------------------------------------------- recurrent layer without recurrent gradient
def _rnn_trace(zero_frac: float, steps: int = 80, every: int = 20) -> tuple[list[StepRecord], ModelInfo]:
    info = model([layer(0, "rnn", "GRU", None, 32, 3360), layer(1, "out", "Linear", "linear", 3, 99)])
    recs = []
    for step in range(1, steps + 1):
        stats = {}
        if (step - 1) % every == 0:
            stats[(0, Channel.WEIGHT_GRAD)] = vec(3360, zero_frac=zero_frac, norm=0.05, std=1e-3)
        recs.append(StepRecord(step=step, loss=1.1, stats=stats))
    return recs, info


def test_recurrent_weights_without_gradient_point_at_the_rnn() -> None:
    recs, info = _rnn_trace(0.91)
    (f,) = recurrent_no_gradient(trace_of(recs), info, CFG)
    assert f.layer.name == "rnn" and f.causes[0].category == Category.ARCHITECTURE
    recs, info = _rnn_trace(0.0)
    assert recurrent_no_gradient(trace_of(recs), info, CFG) == []


# ---------------------------------------------------------------- short training
def _short(losses: list[float], completed: bool = True) -> list[Finding]:
    info = model([layer(0, "out", "Linear", "linear", 10, 650)])
    info.data = DataInfo(n_classes=10)
    trace = trace_of(StepRecord(step=i + 1, loss=v) for i, v in enumerate(losses))
    trace.completed = completed
    return short_training(trace, info, CFG)


def test_a_run_that_ends_after_five_steps_at_chance_is_too_short() -> None:
    (f,) = _short([2.34, 2.33, 2.32, 2.30, 2.29])
    assert f.causes[0].category == Category.TRAINING
    assert _short([2.3, 1.5, 0.9, 0.5, 0.3]) == []  # it learned in those steps
    # still running (a periodic check), or stopped early / crashed: the evidence is short, not the training
    assert _short([2.34, 2.33, 2.32, 2.30, 2.29], completed=False) == []


# ---------------------------------------------------------------- narrow bottleneck
def _bottleneck(width: int, level: float) -> list[Finding]:
    info = model([layer(0, "fc1", "Linear", "linear", 64, 4160), layer(1, "act1", "ReLU", "relu", 64),
                  layer(2, "fc2", "Linear", "linear", width, 65 * width),
                  layer(3, "act2", "ReLU", "relu", width), layer(4, "out", "Linear", "linear", 10, 650)])
    losses = np.linspace(2.3, level, 120)
    return narrow_bottleneck(trace_of(StepRecord(step=i + 1, loss=float(v)) for i, v in enumerate(losses)),
                             info, CFG)


def test_width_one_hidden_layer_with_slow_progress_is_named() -> None:
    (f,) = _bottleneck(1, 1.7)
    assert f.layer.name == "fc2" and f.causes[0].category == Category.ARCHITECTURE
    assert _bottleneck(16, 1.7) == []  # no single-unit layer
    assert _bottleneck(1, 0.4) == []  # it learns well despite it


# ---------------------------------------------------------------- target scale
def _regression(y_max: float, out_rms: float) -> list[Finding]:
    info = ModelInfo(framework="keras", layers=[layer(0, "out", "Dense", "linear", 1, 33)],
                     loss=LossInfo("mse", expects="values"), data=DataInfo(y_min=1.0, y_max=y_max))
    rec = StepRecord(step=1, loss=1.0, stats={(0, Channel.OUTPUT): vec(32, mean=0.0, std=out_rms)})
    return check_target_scale(trace_of([rec]), info, CFG)


def test_targets_in_the_thousands_the_outputs_cannot_reach() -> None:
    (f,) = _regression(2.7e4, 0.5)
    assert f.symptom == Symptom.OUTPUT_OUT_OF_RANGE and f.causes[0].category == Category.DATA
    # unscaled targets are a risk: a linear output can learn the offset; a fault only with a failure
    assert f.severity == Severity.WARNING
    stalled = resolve([f, Finding(Symptom.LOSS_NOT_DECREASING, Phase.LOSS, None, 40, "flat")])
    alone = resolve([f])
    assert stalled[0].severity == Severity.FAULT and alone[0].severity == Severity.WARNING
    assert _regression(3.0, 0.5) == []  # standardized targets
    assert _regression(2.7e4, 1e3) == []  # outputs already on the targets' scale


# ---------------------------------------------------------------- optimizer settings
def test_invalid_or_extreme_optimizer_settings() -> None:
    def problem(**kw: object) -> str | None:
        return fixes.optimizer_setting_problem(ModelInfo(framework="torch", optimizer=OptimizerInfo(**kw)))

    assert "momentum" in problem(name="sgd", lr=0.01, momentum=1.5)
    assert "betas" in problem(name="adam", lr=1e-3, extra={"betas": [0.9, 1.5]})
    assert "eps" in problem(name="adam", lr=1e-3, extra={"eps": 1.0})
    assert "weight_decay" in problem(name="sgd", lr=0.05, weight_decay=1.0)
    assert problem(name="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4) is None
    healthy = {"betas": [0.9, 0.999], "eps": 1e-8}
    assert problem(name="adamw", lr=1e-3, weight_decay=0.1, extra=healthy) is None


def test_nan_update_with_an_invalid_beta_blames_the_optimizer() -> None:
    info = model([layer(0, "fc", "Dense", "relu", 8, 72)], optimizer="adam", lr=1e-3)
    grad = vec(72, norm=0.1, min=-0.05, max=0.05)
    rec = StepRecord(step=1, loss=2.3, stats={(0, Channel.WEIGHT_GRAD): grad,
                                              (0, Channel.UPDATE): vec(72, nonfinite=72),
                                              (0, Channel.WEIGHTS): vec(72, nonfinite=72)})
    info.optimizer.extra = {"betas": [0.9, 1.5]}
    (f,) = [f for f in numerical_error(trace_of([rec]), info, CFG) if f.phase == Phase.UPDATE]
    assert max(f.causes, key=lambda c: c.weight).category == Category.OPTIMIZER
    info.optimizer.extra = {"betas": [0.9, 0.999]}
    (f,) = [f for f in numerical_error(trace_of([rec]), info, CFG) if f.phase == Phase.UPDATE]
    assert max(f.causes, key=lambda c: c.weight).category == Category.LEARNING_RATE


# ---------------------------------------------------------------- diagnose: a curve that does not learn
def _stuck(at_chance: bool = True) -> Finding:
    return Finding(Symptom.LOSS_NOT_DECREASING, Phase.LOSS, None, 1, "flat",
                   evidence={"at_chance": at_chance, "detected_at_step": 80},
                   causes=[CauseHint(Category.LEARNING_RATE, 0.5, "tune")])


def _healthy_ratio_trace(ratio: float = 0.01) -> list[StepRecord]:
    stats = {(0, Channel.WEIGHTS): vec(10, norm=1.0), (0, Channel.UPDATE): vec(10, norm=ratio)}
    return [StepRecord(step=s, loss=2.3, lr=0.01, stats=dict(stats)) for s in range(1, 81)]


MLP = [layer(0, "fc1", "Linear", "linear", 32, 2080), layer(1, "act", "ReLU", "relu", 32),
       layer(2, "out", "Linear", "linear", 10, 330)]


def test_at_chance_with_healthy_updates_points_at_the_data() -> None:
    info = model(MLP, lr=0.01)
    _, causes = diagnose([_stuck()], trace_of(_healthy_ratio_trace()), info, CFG)
    assert causes[0].category == Category.DATA
    _, causes = diagnose([_stuck(at_chance=False)], trace_of(_healthy_ratio_trace()), info, CFG)
    assert causes[0].category != Category.DATA  # not at chance: something was learned


def test_stacked_linear_layers_point_at_the_architecture() -> None:
    linear = [layer(0, "hidden1", "Dense", "linear", 32, 2080),
              layer(1, "hidden2", "Dense", "linear", 32, 1056),
              layer(2, "out", "Dense", "sigmoid", 1, 33)]
    info = model(linear, lr=0.01)
    info.framework = "keras"  # activations are declared per layer
    assert linear_stack(info)[0].name == "hidden1"
    _, causes = diagnose([_stuck()], trace_of(_healthy_ratio_trace()), info, CFG)
    assert (causes[0].category, causes[0].layer.name) == (Category.ARCHITECTURE, "hidden1")
    assert linear_stack(model(MLP)) is None  # a ReLU between them


def test_a_torch_linear_stack_needs_the_next_layers_input_to_be_the_previous_output() -> None:
    """``F.relu`` or ``F.max_pool2d`` between two layers is invisible in the module types: only a statistics
    step showing the second layer's input equal to the first layer's output proves nothing is between."""
    info = model([layer(0, "fc1", "Linear", "linear", 32, 2080), layer(1, "fc2", "Linear", "linear", 3, 99)])
    out = np.linspace(-2.0, 3.0, 64)

    def trace_with(second_input: np.ndarray):
        stats = {(0, Channel.OUTPUT): sm.summarize(out), (1, Channel.INPUT): sm.summarize(second_input)}
        return trace_of([StepRecord(step=1, loss=1.0, stats=stats)])

    assert linear_stack(info) is None  # no evidence: no claim
    assert linear_stack(info, trace_with(out))[0].name == "fc1"  # passed on as it is: one linear map
    assert linear_stack(info, trace_with(np.maximum(out, 0.0))) is None  # a functional ReLU between


def test_learning_rate_outside_the_usual_range_wins_over_data() -> None:
    info = model(MLP, optimizer="sgd", lr=1e-6)
    trace = trace_of([StepRecord(step=s, loss=2.3, lr=1e-6) for s in range(1, 81)])
    _, causes = diagnose([_stuck()], trace, info, CFG)
    assert causes[0].category == Category.LEARNING_RATE and "far below" in causes[0].fix


def test_init_votes_at_several_layers_merge_at_the_first() -> None:
    info = model(MLP)
    f1 = Finding(Symptom.POOR_INITIALIZATION, Phase.WEIGHTS, info.layer(2).ref, 1, "out big",
                 causes=[CauseHint(Category.INITIALIZATION, 0.8, "out", info.layer(2).ref)],
                 severity=Severity.FAULT)
    f0 = Finding(Symptom.POOR_INITIALIZATION, Phase.WEIGHTS, info.layer(0).ref, 1, "fc1 big",
                 causes=[CauseHint(Category.INITIALIZATION, 0.5, "fc1", info.layer(0).ref)],
                 severity=Severity.FAULT)
    _, causes = diagnose([f1, f0], trace_of([StepRecord(step=1, loss=9.0)]), info, CFG)
    assert len(causes) == 1 and causes[0].layer.name == "fc1" and causes[0].confidence > 0.8


# ---------------------------------------------------------------- sparse full statistics
def test_sparse_statistics_need_fewer_points_but_the_same_span() -> None:
    dense = trace_of(StepRecord(step=s, loss=1.0, stats={(0, Channel.OUTPUT): vec(10, std=1.0)})
                     for s in range(1, 41))
    assert cm.sustain_points(CFG, dense) == CFG.tensor_min_points
    sparse = trace_of(StepRecord(step=s, loss=1.0, stats={(0, Channel.OUTPUT): vec(10, std=1.0 if
                      (s - 1) % 20 == 0 else math.nan)}) for s in range(1, 81))
    assert cm.sustain_points(CFG, sparse) == CFG.tensor_min_points_sparse


def test_accumulating_gradients_seen_on_sparse_points_from_step_one() -> None:
    def run(norms: list[float], losses: list[float]) -> list[Finding]:
        info = model([layer(0, "fc", "Linear", "linear", 8, 72), layer(1, "out", "Linear", "linear", 2, 18)])
        recs = []
        for s in range(1, 81):
            stats = {}
            if (s - 1) % 20 == 0:
                g = norms[(s - 1) // 20]
                stats = {(0, Channel.WEIGHT_GRAD): vec(72, norm=g), (1, Channel.WEIGHT_GRAD): vec(18, norm=g)}
            recs.append(StepRecord(step=s, loss=losses[s - 1], stats=stats))
        return [f for f in exploding_gradient(trace_of(recs), info, CFG) if f.evidence.get("pattern") ==
                "accumulating"]

    rising = list(np.linspace(2.3, 13.0, 80))
    assert run([0.46, 11.0, 50.0, 58.0], rising)
    assert run([0.46, 11.0, 50.0, 58.0], list(np.linspace(2.3, 0.3, 80))) == []  # the loss improves
    assert run([0.46, 0.9, 0.5, 0.7], rising) == []  # no steady growth


def test_initial_level_of_the_loss_is_at_most_the_step_one_loss() -> None:
    spike = [1.1, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.5]
    trace = trace_of(StepRecord(step=i + 1, loss=v) for i, v in enumerate(spike))
    assert initial_level(trace) == 1.1


def test_initial_level_of_a_long_run_is_read_from_its_first_steps_not_its_first_kept_ones() -> None:
    # 3,000 steps: the window holds the last 512, the history every 8th older step; the run converged
    # within its first 50 steps, so the first ten *kept* points (steps 8..80) are nearly converged already
    losses = [0.56 + 18.0 * math.exp(-step / 8.0) for step in range(1, 3001)]
    trace = trace_of(StepRecord(step=i + 1, loss=v) for i, v in enumerate(losses))
    assert initial_level(trace) > 10 * losses[-1]  # steps 1 and 8 only: still far above the converged level
    assert initial_level(trace, cap_at_first=False) > 10 * losses[-1]
