"""The root-cause engine: verdict, noisy-OR ranking, default causes, learning-rate and data signals."""

from __future__ import annotations

import json

import numpy as np

from deeplocalize import summary
from deeplocalize.config import Config
from deeplocalize.diagnose import DEFAULT_CAUSES, batch_read_as_time, diagnose, update_ratio
from deeplocalize.diagnosis import CauseHint, Diagnosis, Finding
from deeplocalize.model import DataInfo, LayerInfo, ModelInfo, OptimizerInfo
from deeplocalize.severity import resolve
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Severity, Symptom, Verdict

CFG = Config()
MODEL = ModelInfo(
    framework="torch",
    layers=[LayerInfo(0, "fc1", "Linear", "linear", units=32, params=2080),
            LayerInfo(1, "act", "ReLU", "relu"),
            LayerInfo(2, "fc2", "Linear", "linear", units=10, params=330)],
    optimizer=OptimizerInfo("sgd", lr=0.3), data=DataInfo(x_min=0.0, x_max=1.0))


def trace_of(steps: int, ratio: float | None = None, lr: float = 0.3) -> Trace:
    """A trace of ``steps`` steps; with ``ratio``, layer 2's update norm is ``ratio`` x its weights' norm."""
    trace = Trace()
    for step in range(1, steps + 1):
        rec = StepRecord(step=step, loss=2.3, lr=lr)
        if ratio is not None:
            w = summary.summarize(np.full(10, 1.0))
            rec.stats[(2, Channel.WEIGHTS)] = w
            rec.stats[(2, Channel.UPDATE)] = summary.summarize(np.full(10, ratio))
        trace.append(rec)
    return trace


def finding(symptom: Symptom, step: int = 1, layer: int | None = None, causes: list[CauseHint] | None = None,
            phase: Phase = Phase.LOSS, severity: Severity | None = Severity.FAULT) -> Finding:
    """A finding; a fault unless ``severity`` says otherwise (None: the symptom's default)."""
    ref = None if layer is None else MODEL.layer(layer).ref
    return Finding(symptom, phase, ref, step, f"{symptom} at {step}", causes=causes or [], severity=severity)


# ---------------------------------------------------------------- verdict
def test_no_finding_short_run_is_inconclusive_long_run_healthy() -> None:
    assert diagnose([], trace_of(CFG.min_steps_for_verdict - 1), MODEL, CFG) == (Verdict.INCONCLUSIVE, [])
    assert diagnose([], trace_of(CFG.min_steps_for_verdict), MODEL, CFG) == (Verdict.HEALTHY, [])


def test_a_run_with_warnings_only_is_healthy() -> None:
    warnings = resolve([finding(Symptom.UNNORMALIZED_INPUT, severity=None, phase=Phase.DATA),
                        finding(Symptom.POOR_INITIALIZATION, 1, 0, severity=None, phase=Phase.WEIGHTS)])
    assert [f.severity for f in warnings] == [Severity.WARNING, Severity.WARNING]
    verdict, causes = diagnose(warnings, trace_of(100), MODEL, CFG)
    assert verdict == Verdict.HEALTHY and causes == []
    assert all(f.evidence.get("advice") for f in warnings)  # each warning still says what to change
    assert [f.evidence["advice_category"] for f in warnings] == ["data", "initialization"]  # and its kind


def test_a_warning_with_a_failure_it_explains_is_a_fault_and_its_cause_says_so() -> None:
    data = CauseHint(Category.DATA, 0.9, "standardize the inputs")
    stalled = finding(Symptom.LOSS_NOT_DECREASING, 80, severity=None)
    unscaled = finding(Symptom.UNNORMALIZED_INPUT, 1, causes=[data], severity=None, phase=Phase.DATA)
    overfit = finding(Symptom.OVERFITTING, 60, severity=None, phase=Phase.METRIC)  # explains no stall
    findings = resolve([unscaled, overfit, stalled])
    assert [f.severity for f in findings] == [Severity.FAULT, Severity.WARNING, Severity.FAULT]
    assert findings[0].explains == ("loss_not_decreasing",)
    verdict, causes = diagnose(findings, trace_of(100), MODEL, CFG)
    assert verdict == Verdict.FAULTY
    assert causes[0].category == Category.DATA and "explains the loss not decreasing" in causes[0].fix
    assert not any(1 in c.findings for c in causes)  # only faults vote


def _early_stall(symptom: Symptom = Symptom.LOSS_NOT_DECREASING) -> Finding:
    stall = finding(symptom, 80, severity=Severity.WARNING)
    stall.evidence["provisional"] = True
    return stall


def test_an_early_stall_alone_is_a_warning_a_plateau_may_end() -> None:
    findings = resolve([_early_stall(), _early_stall(Symptom.ACCURACY_NOT_INCREASING)])
    assert [f.severity for f in findings] == [Severity.WARNING, Severity.WARNING]
    assert diagnose(findings, trace_of(100), MODEL, CFG)[0] == Verdict.HEALTHY


def test_an_early_stall_with_a_warning_that_explains_it_makes_both_faults() -> None:
    unscaled = finding(Symptom.UNNORMALIZED_INPUT, 1, severity=None, phase=Phase.DATA)
    overfit = finding(Symptom.OVERFITTING, 60, severity=None, phase=Phase.METRIC)  # explains no stall
    findings = resolve([unscaled, _early_stall()])
    assert [f.severity for f in findings] == [Severity.FAULT, Severity.FAULT]
    assert findings[0].explains == ("loss_not_decreasing",)
    assert [f.severity for f in resolve([overfit, _early_stall()])] == [Severity.WARNING, Severity.WARNING]


def test_an_early_stall_in_a_run_with_another_fault_is_part_of_it() -> None:
    dead = finding(Symptom.DEAD_UNITS, 20, 0, phase=Phase.FORWARD)
    assert [f.severity for f in resolve([dead, _early_stall()])] == [Severity.FAULT, Severity.FAULT]


def test_a_short_run_with_warnings_only_is_inconclusive() -> None:
    warnings = resolve([finding(Symptom.UNNORMALIZED_INPUT, severity=None, phase=Phase.DATA)])
    assert diagnose(warnings, trace_of(5), MODEL, CFG)[0] == Verdict.INCONCLUSIVE


def test_any_finding_is_faulty_even_on_a_short_run() -> None:
    verdict, causes = diagnose([finding(Symptom.NUMERICAL_ERROR, layer=0, phase=Phase.FORWARD)],
                               trace_of(3), MODEL, CFG)
    assert verdict == Verdict.FAULTY and causes


# ---------------------------------------------------------------- ranking
def test_votes_combine_by_noisy_or_and_sort_most_likely_first() -> None:
    lr = CauseHint(Category.LEARNING_RATE, 0.5, "lower lr")
    act = CauseHint(Category.ACTIVATION, 0.7, "change act", MODEL.layer(0).ref)
    findings = [finding(Symptom.DEAD_UNITS, 5, 0, [act, lr]),
                finding(Symptom.EXPLODING_GRADIENT, 5, None, [lr])]
    _, causes = diagnose(findings, trace_of(50), MODEL, CFG)
    assert [c.category for c in causes] == [Category.LEARNING_RATE, Category.ACTIVATION]
    assert abs(causes[0].confidence - 0.75) < 1e-9 and causes[0].findings == [0, 1]
    assert causes[1].layer.name == "fc1" and causes[1].findings == [0]
    assert all(0 <= c.confidence <= 1 for c in causes)


def test_later_findings_are_discounted() -> None:
    early = finding(Symptom.ACTIVATION_LOSS_MISMATCH, 1, 2, [CauseHint(Category.ACTIVATION, 0.6, "a")])
    late = finding(Symptom.EXPLODING_GRADIENT, 50, None, [CauseHint(Category.OPTIMIZER, 0.7, "b")])
    _, causes = diagnose([early, late], trace_of(60), MODEL, CFG)
    assert causes[0].category == Category.ACTIVATION
    assert abs(causes[1].confidence - 0.7 * CFG.later_finding_discount) < 1e-9


def test_earliness_is_the_confirming_step() -> None:
    # a curve finding starting at step 1 but confirmed at step 50 is later than a step-1 pre-flight finding
    static = finding(Symptom.ACTIVATION_LOSS_MISMATCH, 1, 2, [CauseHint(Category.ACTIVATION, 0.6, "a")])
    static.detected_at = 1
    trend = finding(Symptom.ACCURACY_NOT_INCREASING, 1, None, [CauseHint(Category.OPTIMIZER, 0.7, "b")])
    trend.detected_at = 50
    _, causes = diagnose([static, trend], trace_of(60), MODEL, CFG)
    expected = 0.7 * CFG.later_finding_discount * CFG.generic_finding_discount
    assert causes[0].category == Category.ACTIVATION and abs(causes[1].confidence - expected) < 1e-9


def test_curve_symptoms_count_once_and_yield_to_a_specific_finding() -> None:
    lr = CauseHint(Category.LEARNING_RATE, 0.7, "lr")
    curves = [finding(s, 1, None, [lr]) for s in (Symptom.LOSS_NOT_DECREASING, Symptom.SLOW_CONVERGENCE,
                                                  Symptom.ACCURACY_NOT_INCREASING)]
    _, alone = diagnose(curves, trace_of(60), MODEL, CFG)
    assert abs(alone[0].confidence - 0.7) < 1e-9 and alone[0].findings == [0, 1, 2]  # max, not noisy-OR
    mismatch = finding(Symptom.ACTIVATION_LOSS_MISMATCH, 1, 2,
                       [CauseHint(Category.ACTIVATION, 0.6, "remove softmax", MODEL.layer(2).ref)])
    _, both = diagnose([mismatch, *curves], trace_of(60), MODEL, CFG)
    assert both[0].category == Category.ACTIVATION
    assert abs(both[1].confidence - 0.7 * CFG.generic_finding_discount) < 1e-9


def test_same_category_at_different_layers_stays_separate() -> None:
    findings = [finding(Symptom.DEAD_UNITS, 3, 0), finding(Symptom.DEAD_UNITS, 3, 2)]
    _, causes = diagnose(findings, trace_of(30), MODEL, CFG)
    layers = {(c.category, None if c.layer is None else c.layer.name) for c in causes}
    assert (Category.ACTIVATION, "fc1") in layers and (Category.ACTIVATION, "fc2") in layers


def test_mismatch_lists_activation_and_loss_together() -> None:
    hints = [CauseHint(Category.ACTIVATION, 0.85, "remove softmax of `fc2`", MODEL.layer(2).ref),
             CauseHint(Category.LOSS, 0.45, "or use NLLLoss")]
    _, causes = diagnose([finding(Symptom.ACTIVATION_LOSS_MISMATCH, 1, 2, hints, Phase.STATIC)],
                         trace_of(1), MODEL, CFG)
    assert [(c.category, c.layer is None) for c in causes] == [(Category.ACTIVATION, False),
                                                                (Category.LOSS, True)]
    assert causes[0].fix == "remove softmax of `fc2`"


# ---------------------------------------------------------------- default causes
def test_every_symptom_has_default_causes() -> None:
    assert set(DEFAULT_CAUSES) == set(Symptom)


def test_findings_without_causes_get_concrete_defaults_naming_the_layer() -> None:
    _, causes = diagnose([finding(Symptom.DEAD_UNITS, 4, 1, phase=Phase.FORWARD)], trace_of(30), MODEL, CFG)
    act = next(c for c in causes if c.category == Category.ACTIVATION)
    assert act.layer.name == "act" and "`act`" in act.fix and "LeakyReLU" in act.fix
    lr = next(c for c in causes if c.category == Category.LEARNING_RATE)
    assert "lr=0.3 is far above the usual SGD range" in lr.fix and "try 0.01" in lr.fix


def test_numerical_error_defaults_depend_on_the_phase() -> None:
    loss_nan = finding(Symptom.NUMERICAL_ERROR, 7, None, phase=Phase.LOSS)
    _, causes = diagnose([loss_nan], trace_of(7), MODEL, CFG)
    assert causes[0].category == Category.LOSS
    update_nan = finding(Symptom.NUMERICAL_ERROR, 7, 2, phase=Phase.UPDATE)
    _, causes = diagnose([update_nan], trace_of(7), MODEL, CFG)
    assert causes[0].category == Category.LEARNING_RATE


# ---------------------------------------------------------------- run-wide signals
def test_update_ratio_reads_update_over_weight_norms() -> None:
    high, layer, typical = update_ratio(trace_of(10, ratio=0.5), MODEL)
    assert abs(high - 0.5) < 1e-9 and layer.name == "fc2" and abs(typical - 0.5) < 1e-9
    assert update_ratio(trace_of(10), MODEL) is None


def test_update_ratio_reads_the_latest_statistics_steps_however_sparse() -> None:
    # a long healthy run measures updates on statistics steps only (every 20th here, none in the last 80):
    # the ratio is read from the latest ones measured, not lost because the last 50 steps have none
    trace = Trace()
    for step in range(1, 201):
        rec = StepRecord(step=step, loss=2.3, lr=0.3)
        rec.stats[(2, Channel.WEIGHTS)] = summary.summarize(np.full(10, 1.0))
        if step % 20 == 1 and step <= 120:
            rec.stats[(2, Channel.UPDATE)] = summary.summarize(np.full(10, 1e-3 if step < 100 else 2e-3))
        trace.append(rec)
    high, _, typical = update_ratio(trace, MODEL)
    assert high == typical and abs(high - 1e-3) < 1e-12  # the median of the 6 measured steps
    assert abs(update_ratio(trace, MODEL, last=1)[0] - 2e-3) < 1e-12  # the latest one alone


def test_high_update_ratio_promotes_the_learning_rate() -> None:
    stuck = finding(Symptom.LOSS_NOT_DECREASING, 1, None, [CauseHint(Category.OPTIMIZER, 0.5, "opt"),
                                                          CauseHint(Category.LEARNING_RATE, 0.3, "tune")])
    _, causes = diagnose([stuck], trace_of(30, ratio=0.5), MODEL, CFG)
    assert causes[0].category == Category.LEARNING_RATE
    assert "lr=0.3 is far above" in causes[0].fix and "layer `fc2`" in causes[0].fix
    _, plain = diagnose([stuck], trace_of(30), MODEL, CFG)  # no ratio, but lr=0.3 is outside SGD's range
    assert plain[0].category == Category.LEARNING_RATE and "far above" in plain[0].fix


def test_an_lr_far_outside_the_usual_range_explains_a_failure_it_can_cause() -> None:
    model = ModelInfo(framework="keras", layers=MODEL.layers, optimizer=OptimizerInfo("adam", lr=100.0))
    dead = finding(Symptom.VANISHING_GRADIENT, 20, 2, phase=Phase.BACKWARD)  # its huge steps killed units
    _, causes = diagnose([dead], trace_of(30, lr=100.0), model, CFG)
    assert causes[0].category == Category.LEARNING_RATE and "lr=100 is far above" in causes[0].fix
    still = finding(Symptom.UNCHANGED_WEIGHTS, 20, None, phase=Phase.UPDATE)
    model.optimizer = OptimizerInfo("adadelta", lr=1e-11)
    _, causes = diagnose([still], trace_of(30, lr=1e-11), model, CFG)
    assert causes[0].category == Category.LEARNING_RATE and "far below" in causes[0].fix
    model.optimizer = OptimizerInfo("adam", lr=1e-3)  # a usual lr: no such vote
    _, causes = diagnose([dead], trace_of(30, lr=1e-3), model, CFG)
    assert causes[0].category != Category.LEARNING_RATE


def test_tiny_update_ratio_suggests_raising_the_learning_rate() -> None:
    model = ModelInfo(framework="torch", layers=MODEL.layers, optimizer=OptimizerInfo("adam", lr=1e-3))
    slow = finding(Symptom.SLOW_CONVERGENCE, 1, None, [CauseHint(Category.OPTIMIZER, 0.5, "opt")])
    trace = trace_of(30, ratio=1e-7)
    _, causes = diagnose([slow], trace, model, CFG)
    assert causes[0].category == Category.LEARNING_RATE and "too low" in causes[0].fix


def test_unnormalized_input_boosts_data_for_saturation() -> None:
    data = finding(Symptom.UNNORMALIZED_INPUT, 1, None, [CauseHint(Category.DATA, 0.9, "normalize")],
                   Phase.DATA)
    sat = finding(Symptom.SATURATED_ACTIVATION, 20, 1, [CauseHint(Category.ACTIVATION, 0.9, "relu")])
    _, causes = diagnose([data, sat], trace_of(30), MODEL, CFG)
    assert causes[0].category == Category.DATA and causes[0].findings == [0, 1]


def test_diagnosis_with_ranked_causes_is_valid_json() -> None:
    findings = [finding(Symptom.EXPLODING_GRADIENT, 3, 2, phase=Phase.BACKWARD),
                finding(Symptom.OVERFITTING, 9)]
    verdict, causes = diagnose(findings, trace_of(30, ratio=0.3), MODEL, CFG)
    doc = Diagnosis(verdict, "torch", 30, findings=findings, root_causes=causes).to_dict()
    back = Diagnosis.from_dict(json.loads(json.dumps(doc)))
    assert back.root_causes[0].category == causes[0].category and len(back.root_causes) == len(causes)


def test_large_regression_targets_vote_data_for_exploding_gradients() -> None:
    from deeplocalize.model import LossInfo

    model = ModelInfo(framework="keras", layers=MODEL.layers, loss=LossInfo("mse", "values"),
                      optimizer=OptimizerInfo("adam", lr=1e-3), data=DataInfo(y_min=1e4, y_max=5e5))
    grad = finding(Symptom.EXPLODING_GRADIENT, 3, 2, [CauseHint(Category.LEARNING_RATE, 0.4, "lr")])
    _, causes = diagnose([grad], trace_of(10, lr=1e-3), model, CFG)
    assert causes[0].category == Category.DATA and "standardize the regression targets" in causes[0].fix
    model.data = DataInfo(y_min=-3.0, y_max=3.0)
    _, causes = diagnose([grad], trace_of(10, lr=1e-3), model, CFG)
    assert causes[0].category == Category.LEARNING_RATE


def _rnn_model(batch_first: bool, output_shape: tuple[int, ...], batch: int) -> ModelInfo:
    rnn = LayerInfo(0, "rnn", "LSTM", activation="tanh", units=32, params=6400, trainable_params=6400,
                    output_shape=output_shape, extra={"batch_first": batch_first})
    head = LayerInfo(1, "out", "Linear", activation="linear", units=3, params=99, trainable_params=99)
    return ModelInfo("torch", layers=[rnn, head], data=DataInfo(y_shape=(batch,)))


def test_an_rnn_reading_the_batch_axis_as_time_is_named() -> None:
    # batch_first=False, but the output's first axis is the batch of 64 labels: the batch is read as time
    assert batch_read_as_time(_rnn_model(False, (64, 20, 32), 64)).name == "rnn"
    assert batch_read_as_time(_rnn_model(False, (20, 64, 32), 64)) is None  # a correct time-major input
    assert batch_read_as_time(_rnn_model(True, (64, 20, 32), 64)) is None  # batch_first as meant
    assert batch_read_as_time(_rnn_model(False, (64, 64, 32), 64)) is None  # ambiguous: say nothing
