"""numerical_error: producer semantics, one finding at the origin, 0 steps latency."""

from __future__ import annotations

import math

from builders import layer, model, run_steps, simulate_mlp, vec

from deeplocalize.detectors.numerical import numerical_error
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Category, Channel, Phase, Symptom

OK = vec(100, 0, min=-1.0, max=1.0, mean=0.0, std=0.5, norm=5.0)
BAD = vec(100, 3, min=-1.0, max=1.0, mean=0.0, std=0.5, norm=5.0)
INFO = model(
    [
        layer(0, "fc0", "Linear", "linear", 16, 144),
        layer(1, "act0", "ReLU", "relu", 16),
        layer(2, "div", "SafeDiv", None, 16),
        layer(3, "out", "Linear", "linear", 4, 68),
    ],
    lr=3.0,
)


def rec(
    step: int, bad: dict[tuple[int, Channel], bool] | None = None, loss: float = 1.0, data_bad: bool = False
) -> StepRecord:
    stats = {(i, ch): OK.copy() for i in range(4) for ch in (Channel.OUTPUT, Channel.OUTPUT_GRAD)}
    stats |= {
        (i, ch): OK.copy() for i in (0, 3) for ch in (Channel.WEIGHTS, Channel.WEIGHT_GRAD, Channel.UPDATE)
    }
    for key, is_bad in (bad or {}).items():
        stats[key] = BAD.copy() if is_bad else OK.copy()
    return StepRecord(step=step, loss=loss, lr=3.0, stats=stats, data=BAD.copy() if data_bad else OK.copy())


def only(found: list) -> object:
    assert len(found) == 1, [(f.phase, f.layer) for f in found]
    return found[0]


def test_forward_producer_is_the_first_layer_with_finite_input_and_nonfinite_output() -> None:
    bad = {(2, Channel.OUTPUT): True, (3, Channel.OUTPUT): True}
    f = only(run_steps(numerical_error, [rec(1), rec(2), rec(3, bad, loss=math.nan)], INFO))
    assert (f.symptom, f.phase, f.layer.name, f.step) == (Symptom.NUMERICAL_ERROR, Phase.FORWARD, "div", 3)
    assert f.detected_at == 3 and f.evidence["propagated_to"] == ["out"]
    assert f.causes[0].category == Category.ARCHITECTURE and "`div`" in f.causes[0].fix


def test_inf_counts_and_later_steps_that_only_propagate_are_not_reported_again() -> None:
    everything_bad = {key: True for key in rec(0).stats}
    records = [
        rec(1),
        rec(
            2,
            {(1, Channel.OUTPUT): True, (2, Channel.OUTPUT): True, (3, Channel.OUTPUT): True},
            loss=math.inf,
        ),
    ] + [rec(s, everything_bad, loss=math.nan) for s in range(3, 8)]
    f = only(run_steps(numerical_error, records, INFO))
    assert (f.phase, f.layer.name, f.step) == (Phase.FORWARD, "act0", 2)


def test_nonfinite_absorbed_downstream_is_not_a_fault() -> None:
    # e.g. -inf in an attention mask that a softmax turns into 0: nothing non-finite reaches training
    assert run_steps(numerical_error, [rec(1), rec(2, {(1, Channel.OUTPUT): True})], INFO) == []


def test_nonfinite_between_layers_names_the_gap() -> None:
    r = rec(2, {(2, Channel.OUTPUT): True, (3, Channel.OUTPUT): True}, loss=math.nan)
    r.stats[(2, Channel.INPUT)] = vec(100, 5)  # only numel / nonfinite, as probes record INPUT
    f = only(run_steps(numerical_error, [rec(1), r], INFO))
    assert f.layer.name == "div" and f.evidence["between_layers"] is True


def test_nonfinite_batch_points_to_data() -> None:
    bad = {(i, Channel.OUTPUT): True for i in range(4)}
    f = only(run_steps(numerical_error, [rec(1, bad, loss=math.nan, data_bad=True)], INFO))
    assert (f.phase, f.layer) == (Phase.DATA, None) and f.causes[0].category == Category.DATA


def test_nonfinite_loss_from_finite_outputs_points_to_the_loss() -> None:
    f = only(run_steps(numerical_error, [rec(1), rec(2, loss=math.inf)], INFO))
    assert (f.phase, f.layer) == (Phase.LOSS, None)
    assert f.causes[0].category == Category.LOSS and "logits" in f.causes[0].fix


def test_backward_producer_and_loss_gradient() -> None:
    bad = {
        (2, Channel.OUTPUT_GRAD): True,
        (1, Channel.OUTPUT_GRAD): True,
        (0, Channel.OUTPUT_GRAD): True,
        (0, Channel.WEIGHT_GRAD): True,
    }
    f = only(run_steps(numerical_error, [rec(1), rec(2, bad)], INFO))
    assert (f.phase, f.layer.name) == (Phase.BACKWARD, "out")  # out's backward made d/d(input) non-finite
    top = {(i, Channel.OUTPUT_GRAD): True for i in range(4)}
    f = only(run_steps(numerical_error, [rec(1), rec(2, top)], INFO))
    assert (f.phase, f.layer) == (Phase.BACKWARD, None) and f.causes[0].category == Category.LOSS


def test_update_turning_nonfinite_after_finite_gradients_points_to_learning_rate() -> None:
    bad = {(0, Channel.UPDATE): True, (0, Channel.WEIGHTS): True, (3, Channel.UPDATE): True}
    f = only(run_steps(numerical_error, [rec(1), rec(2, bad)], INFO))
    assert (f.phase, f.layer.name) == (Phase.UPDATE, "fc0")
    assert f.causes[0].category == Category.LEARNING_RATE and "lr=3" in f.causes[0].fix
    assert "0.3" in f.causes[0].fix and f.causes[1].category == Category.OPTIMIZER


def test_float16_weights_turning_nonfinite_in_the_update_point_to_fp32_master_weights() -> None:
    half = model([layer(0, "fc0", "Linear", "linear", 16, 144, extra={"param_dtype": "float16"}),
                  *INFO.layers[1:]], lr=1e-3)
    bad = {(0, Channel.UPDATE): True, (0, Channel.WEIGHTS): True}
    f = only(run_steps(numerical_error, [rec(1), rec(2, bad)], half))
    top = max(f.causes, key=lambda c: c.weight)
    assert top.category == Category.OPTIMIZER and "GradScaler" in top.fix


def test_simulated_division_by_zero_is_found_at_its_step_and_layer() -> None:
    sim = simulate_mlp(nan_at=("act1", 7), steps=12)
    f = only(run_steps(numerical_error, sim.records, sim.model))
    assert (f.phase, f.layer.name, f.step, f.detected_at) == (Phase.FORWARD, "act1", 7, 7)


def test_healthy_run_has_no_numerical_error() -> None:
    sim = simulate_mlp(steps=40)
    assert run_steps(numerical_error, sim.records, sim.model) == []


def test_nan_loss_message_says_what_happened_not_a_nan_range() -> None:
    """On a routine step the output's min/max are not measured (NaN): no "range (nan, nan)" in the text."""
    routine = rec(12, loss=math.nan)
    for i in range(4):
        routine.stats[(i, Channel.OUTPUT)] = vec(100, 0)  # finite, range not measured
    f = only(run_steps(numerical_error, [rec(11), routine], INFO))
    assert f.message == "the loss became NaN at step 12 from a finite model output"
    fix = f.causes[0].fix
    assert "became NaN at step 12 although the model output is finite:" in fix
    assert "nan" not in (f.message + fix).replace("NaN", "").lower() and "range" not in fix
    measured = only(run_steps(numerical_error, [rec(1), rec(2, loss=-math.inf)], INFO))
    assert measured.message == "the loss became -Inf at step 2 from a finite model output"
    assert "although the model output is finite (in [-1, 1]):" in measured.causes[0].fix


def test_a_nan_loss_from_outputs_the_loss_cannot_take_is_blamed_on_the_output_activation() -> None:
    """A ReLU output under a loss that expects probabilities: a row of zeros is the log(0)."""
    from deeplocalize.model import DataInfo, LossInfo

    relu_out = model([layer(0, "fc0", "Linear", "linear", 16, 144), layer(1, "out", "Dense", "relu", 3, 51)])
    relu_out.loss = LossInfo("categorical_crossentropy", expects="probabilities")
    relu_out.data = DataInfo(y_is_one_hot=True, y_min=0.0, y_max=1.0)
    relu_out.framework = "keras"
    f = only(run_steps(numerical_error, [StepRecord(step=1, loss=math.nan)], relu_out))
    assert [c.category for c in f.causes] == [Category.ACTIVATION, Category.LOSS]
    assert f.causes[0].layer is not None and f.causes[0].layer.name == "out"
    assert "softmax" in f.causes[0].fix
    logits = model([layer(0, "fc0", "Linear", "linear", 16, 144), layer(1, "out", "Linear", "linear", 3, 51)])
    f = only(run_steps(numerical_error, [StepRecord(step=1, loss=math.nan)], logits))  # consistent: the loss
    assert [c.category for c in f.causes] == [Category.LOSS]
