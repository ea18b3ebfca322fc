"""Pre-flight: output activation vs loss vs labels, input scale, initial loss (step 1, hand-built facts)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deeplocalize import summary
from deeplocalize.config import Config
from deeplocalize.detectors import load_all
from deeplocalize.detectors.preflight import preflight
from deeplocalize.model import DataInfo, LayerInfo, LossInfo, ModelInfo, OptimizerInfo
from deeplocalize.monitor import Monitor
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Phase, Symptom

CFG = Config()
MISMATCH, RANGE = Symptom.ACTIVATION_LOSS_MISMATCH, Symptom.OUTPUT_OUT_OF_RANGE
CLEAN_X = {"x_min": -3.0, "x_max": 3.0, "x_feature_scale_ratio": 2.0}


def linear(i: int, name: str, units: int, act: str = "linear", kind: str = "Linear") -> LayerInfo:
    return LayerInfo(i, name, kind, act, units=units, params=units * 9)


def head(
    i: int,
    kind: str,
    act: str,
    units: int | None = None,
    axis: int | None = None,
    shape: tuple[int, ...] | None = None,
) -> LayerInfo:
    return LayerInfo(i, f"out_{act}", kind, act, units=units, softmax_axis_size=axis, output_shape=shape)


def net(
    *layers: LayerInfo,
    loss: str,
    expects: str,
    framework: str = "torch",
    task: str | None = None,
    from_logits: bool | None = None,
    **data,
) -> ModelInfo:
    return ModelInfo(
        framework=framework,
        layers=list(layers),
        task=task,
        loss=LossInfo(loss, expects, from_logits=from_logits),
        optimizer=OptimizerInfo("adam", lr=1e-3),
        data=DataInfo(**{**CLEAN_X, **data}),
        extra={"loss_plain": True},  # the trained loss is the loss function's (the probes read it)
    )


def run(model: ModelInfo, first_loss: float | None = None, x: np.ndarray | None = None) -> list:
    trace = Trace()
    trace.append(StepRecord(step=1, loss=first_loss, data=None if x is None else summary.summarize(x)))
    return preflight(trace, model, CFG)


def only(found: list, symptom: Symptom):
    assert [f.symptom for f in found] == [symptom], [f.message for f in found]
    return found[0]


def top(finding) -> object:
    return max(finding.causes, key=lambda c: c.weight)


# ---------------------------------------------------------------- output activation vs loss
def test_softmax_on_one_unit() -> None:
    model = net(
        linear(0, "dense", 16, "relu", "Dense"),
        linear(1, "dense_2", 1, "softmax", "Dense"),
        loss="binary_crossentropy",
        expects="probabilities",
        framework="keras",
        y_min=0.0,
        y_max=1.0,
    )
    model.layers[1].softmax_axis_size = 1
    f = only(run(model), MISMATCH)
    assert f.layer is not None and f.layer.name == "dense_2" and f.phase == Phase.STATIC and f.step == 1
    fix = top(f).fix
    assert "`dense_2` applies softmax to 1 unit, which always outputs 1.0" in fix and "sigmoid" in fix
    assert {c.category for c in f.causes} == {Category.ACTIVATION, Category.LOSS}


def test_softmax_over_the_batch_axis() -> None:
    model = net(
        linear(0, "fc", 10),
        head(1, "Softmax", "softmax", units=10, axis=32, shape=(32, 10)),
        loss="nll",
        expects="log_probabilities",
    )
    f = only(run(model), MISMATCH)
    assert "dim=-1" in top(f).fix


@pytest.mark.parametrize("act", ["sigmoid", "relu"])
def test_sigmoid_or_relu_with_categorical_crossentropy(act: str) -> None:
    model = net(
        linear(0, "dense", 10, act, "Dense"),
        loss="categorical_crossentropy",
        expects="probabilities",
        framework="keras",
        y_is_one_hot=True,
        n_classes=10,
        y_min=0.0,
        y_max=1.0,
    )
    f = only(run(model), MISMATCH)
    assert f.layer.name == "dense" and top(f).category == Category.ACTIVATION and "softmax" in top(f).fix


def test_linear_output_with_probability_loss_suggests_from_logits_too() -> None:
    model = net(
        linear(0, "dense", 10, "linear", "Dense"),
        loss="sparse_categorical_crossentropy",
        expects="probabilities",
        framework="keras",
        y_is_integer=True,
        y_min=0.0,
        y_max=9.0,
    )
    f = only(run(model), MISMATCH)
    loss_cause = next(c for c in f.causes if c.category == Category.LOSS)
    assert loss_cause.layer is None and "from_logits=True" in loss_cause.fix


def test_softmax_module_before_cross_entropy_loss() -> None:
    model = net(
        linear(0, "fc", 10),
        head(1, "Softmax", "softmax", units=10, axis=10),
        loss="cross_entropy",
        expects="logits",
        y_is_integer=True,
        y_min=0.0,
        y_max=9.0,
    )
    f = only(run(model), MISMATCH)
    assert f.layer.index == 1 and "remove the softmax of layer `out_softmax`" in top(f).fix
    assert "double softmax" in f.message


@pytest.mark.parametrize(("act", "low", "flagged"), [("relu", -2.5, False), ("relu", 0.0, True),
                                                     ("tanh", -3.0, False), ("sigmoid", 0.2, True)])
def test_a_last_layer_whose_range_the_loss_input_leaves_is_not_what_the_loss_saw(
        act: str, low: float, flagged: bool) -> None:
    """A feature extractor ending in relu whose output feeds a separate head: the cross-entropy received
    values below 0 (the head's logits), which no relu makes, so the relu is not blamed."""
    model = net(linear(0, "fc", 16), head(1, act.capitalize(), act, units=16), loss="cross_entropy",
                expects="logits", y_is_integer=True, y_min=0.0, y_max=9.0)
    model.extra["output_values"] = {"min": low, "max": 0.9 if act == "sigmoid" else 4.0, "finite": True,
                                    "sums_to_one": False, "exp_sums_to_one": False}
    found = run(model)
    assert [f.symptom for f in found] == ([MISMATCH] if flagged else []), [f.message for f in found]


@pytest.mark.parametrize(("low", "zero_share", "flagged"), [(0.0, 0.45, True), (0.0, 0.0, False),
                                                             (-1.5, 0.45, False), (0.0, 0.02, False)])
def test_logits_clamped_by_a_relu_inside_forward_are_seen_in_the_values_the_loss_receives(
        low: float, zero_share: float, flagged: bool) -> None:
    """``torch.relu(self.l1(x))`` returned to ``F.cross_entropy``: the module types say linear, the values
    say relu (nothing below 0, many exact zeros); a few zeros or any negative value prove nothing."""
    model = net(linear(0, "l1", 10), loss="cross_entropy", expects="logits", y_is_integer=True, y_min=0.0,
                y_max=9.0)
    model.extra["output_values"] = {"min": low, "max": 3.0, "finite": True, "sums_to_one": False,
                                    "exp_sums_to_one": False, "zero_share": zero_share}
    found = run(model)
    assert [f.symptom for f in found] == ([MISMATCH] if flagged else []), [f.message for f in found]
    if flagged:
        assert found[0].layer.name == "l1" and "remove the relu of layer `l1`" in top(found[0]).fix


def test_sigmoid_before_bce_with_logits() -> None:
    model = net(
        linear(0, "fc", 1),
        head(1, "Sigmoid", "sigmoid", units=1),
        loss="bce_logits",
        expects="logits",
        y_min=0.0,
        y_max=1.0,
    )
    f = only(run(model), MISMATCH)
    assert "double sigmoid" in f.message


def test_linear_output_with_bce_probabilities() -> None:
    model = net(linear(0, "fc", 1), loss="bce", expects="probabilities", y_min=0.0, y_max=1.0)
    f = only(run(model), MISMATCH)
    assert "use sigmoid on layer `fc`" in top(f).fix


def test_softmax_with_binary_crossentropy_on_multi_label_targets() -> None:
    model = net(
        linear(0, "dense", 5, "softmax", "Dense"),
        loss="binary_crossentropy",
        expects="probabilities",
        framework="keras",
        task="multilabel",
        y_is_multi_hot=True,
        y_min=0.0,
        y_max=1.0,
    )
    model.layers[0].softmax_axis_size = 5
    f = only(run(model), MISMATCH)
    assert f.layer.name == "dense" and "sigmoid" in top(f).fix


def test_softmax_with_binary_crossentropy_on_one_hot_blames_the_loss() -> None:
    model = net(
        linear(0, "dense", 5, "softmax", "Dense"),
        loss="binary_crossentropy",
        expects="probabilities",
        framework="keras",
        y_is_one_hot=True,
        y_min=0.0,
        y_max=1.0,
    )
    model.layers[0].softmax_axis_size = 5
    f = only(run(model), MISMATCH)
    assert f.layer is None and top(f).category == Category.LOSS


@pytest.mark.parametrize("loss", ["mse", "mae"])
def test_regression_loss_on_one_hot_classes(loss: str) -> None:
    model = net(
        linear(0, "dense", 10, "softmax", "Dense"),
        loss=loss,
        expects="values",
        framework="keras",
        y_is_one_hot=True,
        y_min=0.0,
        y_max=1.0,
    )
    model.layers[0].softmax_axis_size = 10
    f = only(run(model), MISMATCH)
    assert f.layer is None and top(f).category == Category.LOSS and "categorical_crossentropy" in top(f).fix


def test_nll_on_softmax_probabilities() -> None:
    model = net(
        linear(0, "fc", 10),
        head(1, "Softmax", "softmax", units=10, axis=10),
        loss="nll",
        expects="log_probabilities",
        y_is_integer=True,
        y_min=0.0,
        y_max=9.0,
    )
    f = only(run(model), MISMATCH)
    assert "LogSoftmax" in top(f).fix


# ---------------------------------------------------------------- labels vs the output's range
def test_sigmoid_output_on_unbounded_regression_targets() -> None:
    model = net(
        linear(0, "fc", 1),
        head(1, "Sigmoid", "sigmoid", units=1),
        loss="mse",
        expects="values",
        y_min=0.0,
        y_max=150.0,
        y_is_integer=False,
    )
    f = only(run(model), RANGE)
    assert f.layer.index == 1 and "linear output" in top(f).fix
    assert any(c.category == Category.DATA for c in f.causes)


def test_relu_output_with_negative_targets() -> None:
    model = net(
        linear(0, "dense", 1, "relu", "Dense"),
        loss="mse",
        expects="values",
        framework="keras",
        y_min=-2.0,
        y_max=2.0,
    )
    assert only(run(model), RANGE).layer.name == "dense"


def test_tanh_output_with_targets_inside_its_range_is_fine() -> None:
    model = net(
        linear(0, "fc", 1),
        head(1, "Tanh", "tanh", units=1),
        loss="mse",
        expects="values",
        y_min=-0.5,
        y_max=0.5,
    )
    assert run(model) == []


def test_bce_with_minus_one_labels_blames_the_data() -> None:
    model = net(linear(0, "fc", 1), loss="bce_logits", expects="logits", y_min=-1.0, y_max=1.0)
    f = only(run(model), RANGE)
    assert f.layer is None and top(f).category == Category.DATA


def test_class_labels_beyond_the_output_units() -> None:
    model = net(
        linear(0, "fc", 10), loss="cross_entropy", expects="logits", y_is_integer=True, y_min=1.0, y_max=10.0
    )
    f = only(run(model), RANGE)
    assert {c.category for c in f.causes} == {Category.DATA, Category.ARCHITECTURE}


@pytest.mark.parametrize(("scored", "flagged"), [(256, False), (10, True), (None, True)])
def test_class_labels_are_held_against_the_classes_the_loss_scores(scored: int | None, flagged: bool) -> None:
    """A contrastive loss scores a batch's similarity matrix (256 columns), not the 16 units of the
    projection head: labels up to 255 are in range (once a false alarm that stopped the run at step 1)."""
    model = net(linear(0, "proj", 16), loss="cross_entropy", expects="logits", y_is_integer=True,
                y_min=0.0, y_max=255.0)
    if scored is not None:
        model.extra["loss_shapes"] = [[256, scored], [256]]
    found = [f for f in run(model) if f.symptom == RANGE]
    assert bool(found) == flagged
    if flagged:
        assert f"scores {scored or 16} classes" in found[0].message


@pytest.mark.parametrize(
    "model",
    [
        net(
            linear(0, "fc", 10),
            loss="cross_entropy",
            expects="logits",
            y_is_integer=True,
            y_min=0.0,
            y_max=9.0,
        ),
        net(
            linear(0, "fc", 1),
            head(1, "Sigmoid", "sigmoid", units=1),
            loss="bce",
            expects="probabilities",
            y_min=0.0,
            y_max=1.0,
        ),
        net(linear(0, "fc", 1), loss="bce_logits", expects="logits", y_min=0.0, y_max=1.0),
        net(
            linear(0, "fc", 10),
            head(1, "LogSoftmax", "log_softmax", units=10),
            loss="nll",
            expects="log_probabilities",
            y_is_integer=True,
            y_min=0.0,
            y_max=9.0,
        ),
        net(linear(0, "fc", 1), loss="mse", expects="values", y_min=-40.0, y_max=300.0),
        net(linear(0, "fc", 10), head(1, "Flatten", "linear"), loss="cross_entropy", expects="logits"),
    ],
    ids=["ce-logits", "sigmoid-bce", "bce-logits", "logsoftmax-nll", "linear-mse", "flatten-tail"],
)
def test_consistent_set_ups_have_no_finding(model: ModelInfo) -> None:
    assert run(model, first_loss=2.0) == []


def test_keras_softmax_with_categorical_crossentropy_is_fine() -> None:
    model = net(
        linear(0, "dense", 10, "softmax", "Dense"),
        loss="categorical_crossentropy",
        expects="probabilities",
        framework="keras",
        y_is_one_hot=True,
        y_min=0.0,
        y_max=1.0,
    )
    model.layers[0].softmax_axis_size = 10
    assert run(model, first_loss=math.log(10)) == []


# ---------------------------------------------------------------- input scale
def ce_net(first: LayerInfo | None = None, **data) -> ModelInfo:
    layers = [first] if first is not None else []
    layers.append(linear(len(layers), "fc", 10))
    labels = {"y_is_integer": True, "y_min": 0.0, "y_max": 9.0}
    return net(*layers, loss="cross_entropy", expects="logits", **{**labels, **data})


def test_raw_pixels_are_unnormalized() -> None:
    f = only(run(ce_net(x_min=0.0, x_max=255.0)), Symptom.UNNORMALIZED_INPUT)
    assert f.layer is None and f.phase == Phase.DATA and "[0, 255]" in top(f).fix


def test_input_range_is_read_from_the_first_batch_when_facts_lack_it() -> None:
    model = ce_net(x_min=None, x_max=None)
    x = np.random.default_rng(0).uniform(0, 1000, (8, 4))
    assert only(run(model, x=x), Symptom.UNNORMALIZED_INPUT)


@pytest.mark.parametrize("kind", ["Rescaling", "Embedding", "BatchNorm1d", "Normalization"])
def test_first_layer_that_normalizes_is_exempt(kind: str) -> None:
    first = LayerInfo(0, "pre", kind, None)
    assert run(ce_net(first, x_min=0.0, x_max=255.0)) == []


def test_feature_scales_orders_of_magnitude_apart() -> None:
    assert only(run(ce_net(x_feature_scale_ratio=1e5)), Symptom.UNNORMALIZED_INPUT)
    assert run(ce_net(x_min=-8.0, x_max=8.0, x_feature_scale_ratio=500.0)) == []  # sparse pixels: fine
    assert only(run(ce_net(x_min=0.0, x_max=30.0, x_feature_scale_ratio=500.0)), Symptom.UNNORMALIZED_INPUT)


def test_continuous_features_two_orders_of_magnitude_apart_are_unnormalized_at_any_peak() -> None:
    # one mean and deviation for every column: values stay within [-5, 5], but most columns are a sliver
    squeezed = run(ce_net(x_min=-0.5, x_max=4.8, x_feature_scale_ratio=1046.0,
                          x_continuous_scale_ratio=1046.0))
    assert only(squeezed, Symptom.UNNORMALIZED_INPUT)
    assert "continuous features' scales differ 1.05e+03x" in squeezed[0].message
    # the same spread over every feature, but from sparse pixels only: fine
    assert run(ce_net(x_min=0.0, x_max=1.0, x_feature_scale_ratio=500.0, x_continuous_scale_ratio=2.0)) == []


def test_standardized_data_with_moderate_outliers_is_fine() -> None:
    assert run(ce_net(x_min=-9.0, x_max=9.5, x_feature_scale_ratio=3.0)) == []


# ---------------------------------------------------------------- initial loss
def test_first_loss_far_above_log_k_is_poor_initialization() -> None:
    f = only(run(ce_net(), first_loss=25.0), Symptom.POOR_INITIALIZATION)
    assert f.phase == Phase.LOSS and f.layer is None
    assert f.evidence["expected_initial_loss"] == pytest.approx(math.log(10))
    assert top(f).category == Category.INITIALIZATION and top(f).layer.name == "fc"


def test_first_loss_near_log_k_is_fine() -> None:
    assert run(ce_net(), first_loss=2.4) == []


def test_a_first_loss_in_unknown_units_is_not_judged() -> None:
    """A trained loss the probe could not relate to the loss function's (summed over a sequence's time
    steps, or with terms added) is not in -log(1/K)'s units."""
    model = ce_net()
    del model.extra["loss_plain"]
    assert run(model, first_loss=25.0) == []


def test_large_first_loss_with_raw_inputs_also_votes_data() -> None:
    found = run(ce_net(x_min=0.0, x_max=255.0), first_loss=40.0)
    assert [f.symptom for f in found] == [Symptom.UNNORMALIZED_INPUT, Symptom.POOR_INITIALIZATION]
    weights = {c.category: c.weight for c in found[1].causes}
    assert weights[Category.DATA] > weights[Category.INITIALIZATION]  # raw inputs explain the large logits


def test_large_first_loss_becomes_evidence_of_a_mismatch() -> None:
    model = net(
        linear(0, "fc", 10),
        head(1, "Softmax", "softmax", units=10, axis=10),
        loss="nll",
        expects="log_probabilities",
    )
    f = only(run(model, first_loss=30.0), MISMATCH)
    assert f.evidence["initial_loss"] == 30.0


def test_preflight_runs_once_at_step_one_in_the_monitor() -> None:
    monitor = Monitor("torch", detectors=[d for d in load_all() if d.name == "preflight"])
    monitor.set_model(ce_net(x_min=0.0, x_max=255.0))
    for step in range(1, 4):
        monitor.record(StepRecord(step=step, loss=2.3))
    assert [(f.symptom, f.step) for f in monitor.findings] == [(Symptom.UNNORMALIZED_INPUT, 1)]
    diagnosis = monitor.diagnosis()  # a risk, not a fault: 3 steps are too few to judge the run
    assert diagnosis.verdict == "inconclusive" and not diagnosis.root_causes and not monitor.action()
    assert [f.severity for f in diagnosis.findings] == ["warning"]
    assert "standardize" in diagnosis.findings[0].evidence["advice"]


@pytest.mark.parametrize("act", ["sigmoid", "softmax", "linear"])
def test_categorical_crossentropy_on_one_unit_blames_the_loss(act: str) -> None:
    model = net(linear(0, "dense", 1, act, "Dense"), loss="categorical_crossentropy", expects="probabilities",
                framework="keras", y_min=0.0, y_max=1.0)
    model.layers[0].softmax_axis_size = 1 if act == "softmax" else None
    f = only(run(model), MISMATCH)
    assert top(f).category in (Category.LOSS, Category.ACTIVATION)
    if act != "softmax":  # softmax on one unit is the activation's own fault (checked first)
        assert f.layer is None and top(f).category == Category.LOSS and "binary_crossentropy" in top(f).fix


def test_categorical_crossentropy_on_multi_hot_targets() -> None:
    model = net(linear(0, "dense", 5, "softmax", "Dense"), loss="categorical_crossentropy",
                expects="probabilities", framework="keras", y_is_multi_hot=True, y_min=0.0, y_max=1.0)
    model.layers[0].softmax_axis_size = 5
    f = only(run(model), MISMATCH)
    assert f.layer.name == "dense" and top(f).category == Category.LOSS  # sigmoid and BCE both needed
    assert any(c.category == Category.ACTIVATION and c.layer.name == "dense" for c in f.causes)


# ---------------------------------------------------------------- weak spots seen on real programs
def test_class_indices_fed_to_a_one_unit_binary_head_ask_for_a_multiclass_head() -> None:
    """Iris labels 0..2 with a one-unit output and binary cross-entropy: the fix is a 3-unit output with a
    multiclass loss, not 're-map the labels to 0/1'."""
    model = net(linear(0, "fc", 16, "relu"), linear(1, "out", 1), loss="binary_crossentropy",
                expects="logits", framework="keras", y_is_integer=True, y_min=0.0, y_max=2.0)
    f = only(run(model), RANGE)
    assert f.layer is not None and f.layer.name == "out"
    assert [c.category for c in f.causes] == [Category.LOSS, Category.ARCHITECTURE]
    assert "sparse_categorical_crossentropy" in f.causes[0].fix and "3 units" in f.causes[1].fix


def test_softmax_on_a_hidden_layer_is_a_warning_at_that_layer() -> None:
    model = net(linear(0, "dense", 10, "softmax", "Dense"), linear(1, "dense_1", 10, "softmax", "Dense"),
                loss="categorical_crossentropy", expects="probabilities", framework="keras",
                y_is_one_hot=True)
    f = only(run(model), Symptom.SATURATED_ACTIVATION)
    assert f.layer.name == "dense" and f.severity == "warning" and f.causes[0].category == Category.ACTIVATION


def test_softmax_heads_of_a_multi_output_model_are_not_hidden() -> None:
    first_head = linear(1, "head_a", 4, "softmax", "Dense")
    first_head.extra["model_output"] = True
    second_head = linear(2, "head_b", 1, "linear", "Dense")
    model = net(linear(0, "dense", 16, "relu", "Dense"), first_head, second_head, loss="mse",
                expects="values", framework="keras", y_min=-1.0, y_max=1.0)
    assert all(f.symptom != Symptom.SATURATED_ACTIVATION for f in run(model))


def _bypass_trace(concat_peak: float) -> Trace:
    """Step 1 of a wide & deep net: Normalization -> Dense -> Concatenate(raw or normalized, deep) ->
    Dense."""
    rec = StepRecord(step=1, loss=2.0)
    raw = summary.summarize(np.linspace(-100.0, 6000.0, 64))
    small = summary.summarize(np.linspace(-2.0, 3.0, 64))
    rec.stats[(1, "input")] = raw
    rec.stats[(1, "output")] = small
    rec.stats[(2, "output")] = small
    rec.stats[(3, "output")] = summary.summarize(np.linspace(-2.0, concat_peak, 64))
    trace = Trace()
    trace.append(rec)
    return trace


@pytest.mark.parametrize("concat_peak", [6000.0, 3.0])
def test_a_raw_input_that_bypasses_the_normalizer_is_named_where_it_rejoins(concat_peak: float) -> None:
    from deeplocalize.detectors.preflight_data import check_normalizer_bypass

    layers = [LayerInfo(0, "input_layer", "InputLayer"),
              LayerInfo(1, "normalization", "Normalization", params=17),
              LayerInfo(2, "dense", "Dense", "relu", units=30, params=270),
              LayerInfo(3, "concatenate", "Concatenate"),
              LayerInfo(4, "dense_1", "Dense", units=1, params=39)]
    model = net(*layers, loss="mse", expects="values", framework="keras", x_min=-100.0, x_max=6000.0)
    found = check_normalizer_bypass(_bypass_trace(concat_peak), model, CFG)
    if concat_peak < 10:
        assert found == []
        return
    f = only(found, Symptom.UNNORMALIZED_INPUT)
    assert f.layer.name == "concatenate" and f.causes[0].category == Category.ARCHITECTURE
    assert "dense_1" in f.message and "normalization" in f.causes[0].fix


# ---------------------------------------------------------------- the shapes a value loss receives
@pytest.mark.parametrize(("outputs", "targets", "flagged"), [
    ([16, 1], [16], True),  # (16, 16): every output against every target
    ([16], [16, 1], True),
    ([16, 4], [1, 4], False),  # one target row for every sample: no more elements than the outputs
    ([16, 1], [16, 1], False),
])
def test_a_value_loss_whose_outputs_and_targets_broadcast_to_more_is_a_loss_fault(
        outputs: list[int], targets: list[int], flagged: bool) -> None:
    model = net(linear(0, "fc", outputs[-1] if len(outputs) > 1 else 1), loss="mse", expects="values",
                y_min=-1.0, y_max=1.0)
    model.extra["loss_shapes"] = [outputs, targets]
    found = [f for f in run(model) if f.phase == Phase.LOSS]
    if not flagged:
        assert found == []
        return
    f = only(found, MISMATCH)
    assert f.layer is None and top(f).category == Category.LOSS and "squeeze(-1)" in top(f).fix
    assert f.evidence["broadcast_shape"] == [16, 16]


def test_a_classification_loss_is_not_judged_by_its_shapes() -> None:
    model = net(linear(0, "fc", 3), loss="cross_entropy", expects="logits", task="multiclass")
    model.extra["loss_shapes"] = [[16, 3], [16]]
    assert [f for f in run(model) if f.phase == Phase.LOSS] == []


@pytest.mark.parametrize(("batch_first", "output_shape", "targets", "expected"), [
    (False, (32, 8, 64), (32,), True),  # (batch, time, features) into a time-major LSTM
    (True, (32, 8, 64), (32,), False),
    (False, (8, 32, 64), (32,), False),  # (time, batch, features), as it expects
    (False, (35, 20, 64), (700,), False),  # a time-major language model's flattened targets
    (False, (32, 8, 64), (32, 8), False),  # one target per step
    (False, (16, 16, 64), (16,), False),  # as many steps as samples: which is which is unknown
    (False, (500, 1, 64), (500,), False),  # one series of 500 steps, a target per step, as it expects
])
def test_a_recurrent_layer_reading_the_batch_as_time_is_an_architecture_fault_at_that_layer(
        batch_first: bool, output_shape: tuple, targets: tuple, expected: bool) -> None:
    rnn = LayerInfo(0, "lstm", "LSTM", None, units=64, params=1000, output_shape=output_shape,
                    extra={"batch_first": batch_first})
    model = net(rnn, linear(1, "fc", 10), loss="cross_entropy", expects="logits", y_shape=targets)
    found = [f for f in run(model) if f.symptom == Symptom.BATCH_AS_SEQUENCE]
    assert bool(found) == expected
    if expected:
        assert found[0].layer is not None and found[0].layer.name == "lstm"
        cause = found[0].causes[0]
        assert cause.category == Category.ARCHITECTURE and "batch_first=True" in cause.fix
