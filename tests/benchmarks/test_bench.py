"""The benchmark harness: scoring on hand-made results, each baseline's rules on hand-built traces, and an
end-to-end run on the toy fixtures (with a stand-in probe, so it does not depend on the real one)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from benchmarks.baselines.autotrainer import AUTOTRAINER
from benchmarks.baselines.deepdiagnosis import DEEPDIAGNOSIS
from benchmarks.baselines.deeplocalize2021 import DEEPLOCALIZE_2021
from benchmarks.baselines.keras_builtins import EARLY_STOPPING, TERMINATE_ON_NAN
from benchmarks.capture import Capture, load, save
from benchmarks.replay import Answer, replay_rules
from benchmarks.scoring import RunResult, score_tool

from deeplocalize import summary as sm
from deeplocalize.model import DataInfo, LayerInfo, ModelInfo, OptimizerInfo
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Channel

FIXTURES = Path(__file__).resolve().parent / "fixtures"


# ---------------------------------------------------------------------------------------------- helpers
def vec(**values: float) -> np.ndarray:
    """A summary vector: finite, 100 elements, the given entries (others: mean 0.5, std 1, norm 1)."""
    out = sm.empty()
    base = {"numel": 100, "nonfinite": 0, "min": -1, "max": 1, "mean": 0.5, "std": 1.0, "zero_frac": 0.0,
            "norm": 1.0}
    for name, value in {**base, **values}.items():
        out[sm.IDX[name]] = value
    return out


def model(*layers: LayerInfo, **kw: object) -> ModelInfo:
    return ModelInfo(framework="keras", layers=list(layers), **kw)  # type: ignore[arg-type]


def capture(records: list[StepRecord], info: ModelInfo) -> Capture:
    return Capture("t", "buggy", 0, "probe", records=records, timestamps=[0.5 * r.step for r in records],
                   model=info)


DENSE = LayerInfo(0, "dense", "Dense", activation="relu", units=16)
SOFTMAX = LayerInfo(1, "dense_1", "Dense", activation="softmax", units=4)


def varying(step: int) -> dict:
    """Healthy-looking statistics for DENSE (changing every step) and its weights/gradients."""
    return {(0, Channel.OUTPUT): vec(mean=0.3 + 0.01 * step),
            (0, Channel.WEIGHTS): vec(mean=0.1 + 1e-3 * step),
            (0, Channel.OUTPUT_GRAD): vec(mean=1e-3 * step), (0, Channel.WEIGHT_GRAD): vec(mean=2e-3 * step)}


# ---------------------------------------------------------------------------------------------- scoring
def test_scoring_rates_and_medians() -> None:
    hit = Answer(True, step=10, seconds=1.0, layer="fc1", categories=["activation", "loss"])
    late = Answer(True, step=30, seconds=3.0, layer="out", categories=["loss", "optimizer", "activation"])
    miss = Answer(False)
    runs = [
        RunResult("a", "torch", "bug", "buggy", ("activation",), "fc1", {"t": hit}),
        RunResult("b", "torch", "bug", "buggy", ("activation", "data"), "fc2", {"t": late}),
        RunResult("c", "keras", "bug", "buggy", ("data",), None, {"t": miss}),
        RunResult("a", "torch", "bug", "fixed", ("activation",), "fc1", {"t": miss}),
        RunResult("b", "torch", "bug", "fixed", ("activation",), "fc2", {"t": hit}),
        RunResult("h", "keras", "healthy", "healthy", (), None, {"t": miss}),
        RunResult("x", "keras", "bug", "buggy", ("data",), None, {"t": hit}, captured=False),
        RunResult("y", "keras", "bug", "buggy", ("data",), None, {"t": Answer(False, applicable=False)}),
    ]
    s = score_tool(runs, "t")
    assert (s.detection.hits, s.detection.total) == (2, 3)
    assert (s.rc1.hits, s.rc3.hits) == (1, 2)  # b's valid "activation" is ranked third
    assert (s.layer1.hits, s.layer1.total) == (1, 2)
    assert (s.fa_fixed.hits, s.fa_fixed.total) == (1, 2)
    assert (s.fa_healthy.hits, s.fa_healthy.total) == (0, 1)
    assert s.median_steps == 20 and s.median_seconds == 2.0


def test_a_bug_a_run_survives_is_detected_by_a_warning_of_its_expected_symptom_only() -> None:
    spike = {"symptom": "loss_spike", "step": 201, "layer": "h.1", "categories": ["data"]}
    other = {"symptom": "overfitting", "step": 50, "layer": None, "categories": ["training"]}
    warned = Answer(False, warnings=[other, spike])
    expects = RunResult("g", "torch", "bug", "buggy", ("data",), None, {"t": warned},
                        warning_symptoms=("loss_spike",))
    s = score_tool([expects], "t")
    assert (s.detection.hits, s.rc1.hits, s.median_steps) == (1, 1, 201)
    faults_only = RunResult("g", "torch", "bug", "buggy", ("data",), None, {"t": warned})
    assert score_tool([faults_only], "t").detection.hits == 0  # a warning is no detection elsewhere
    quiet = Answer(False, warnings=[other])
    unrelated = RunResult("g", "torch", "bug", "buggy", ("data",), None, {"t": quiet},
                          warning_symptoms=("loss_spike",))
    assert score_tool([unrelated], "t").detection.hits == 0


def test_run_result_round_trip() -> None:
    answer = Answer(True, 3, 0.2, None, ["loss"], warnings=[{"symptom": "loss_spike", "step": 3}])
    run = RunResult("a", "torch", "bug", "buggy", ("loss",), None, {"t": answer},
                    warning_symptoms=("loss_spike",))
    again = RunResult.from_dict(json.loads(json.dumps(run.to_dict())))
    assert again == run


# ------------------------------------------------------------------------------------ DeepLocalize 2021
def test_2021_rules_fire_on_a_softmax_mean_of_one_over_k() -> None:
    """The faithful false alarm: a softmax output's mean is always 1/K, so "no change" fires at batch 5."""
    info = model(DENSE, SOFTMAX)
    records = [StepRecord(step=s, loss=1.0 / s, metrics={"accuracy": 0.1 * s},
                          stats={**varying(s), (1, Channel.OUTPUT): vec(mean=1 / 4), (1, Channel.WEIGHTS):
                                 vec(mean=0.2 + 1e-3 * s), (1, Channel.OUTPUT_GRAD): vec(mean=1e-3 * s)})
               for s in range(1, 9)]
    answer = replay_rules(capture(records, info), DEEPLOCALIZE_2021)
    assert answer.detected and answer.step == 5 and answer.layer == "dense_1"
    assert answer.symptom == "constant_output" and answer.categories == []  # it gives no fix
    assert answer.seconds == 2.5


def test_2021_rules_name_the_first_nan_in_forward_order() -> None:
    info = model(DENSE, SOFTMAX)
    records = [StepRecord(step=s, loss=1.0 / s, stats={**varying(s), (1, Channel.OUTPUT): vec(mean=0.1 * s)})
               for s in range(1, 4)]
    records[2].stats[(0, Channel.OUTPUT)] = vec(nonfinite=3)
    records[2].stats[(1, Channel.OUTPUT)] = vec(nonfinite=100)
    records[2].loss = math.nan
    answer = replay_rules(capture(records, info), DEEPLOCALIZE_2021)
    assert (answer.step, answer.layer, answer.symptom) == (3, "dense", "numerical_error")


def test_2021_rules_zero_mean_in_half_the_iterations() -> None:
    info = model(DENSE)
    records = [StepRecord(step=s, loss=1.0 / s, stats={**varying(s)}) for s in range(1, 5)]
    for s in (3, 4):  # 1 of 3 iterations at step 3: not yet; 2 of 4 at step 4: half
        records[s - 1].stats[(0, Channel.OUTPUT)] = vec(mean=0.0)
    answer = replay_rules(capture(records, info), DEEPLOCALIZE_2021)
    assert (answer.step, answer.layer) == (4, "dense")


def test_2021_rules_skip_flatten_and_stay_quiet_on_changing_values() -> None:
    flat = LayerInfo(1, "flatten", "Flatten")
    records = [StepRecord(step=s, loss=1.0 / s, stats={**varying(s), (1, Channel.OUTPUT): vec(mean=0.7)})
               for s in range(1, 9)]
    assert not replay_rules(capture(records, model(DENSE, flat)), DEEPLOCALIZE_2021).detected


# ------------------------------------------------------------------------------------ Keras built-ins
def _loss_records(losses_per_epoch: list[list[float]]) -> list[StepRecord]:
    records, step = [], 0
    for epoch, losses in enumerate(losses_per_epoch):
        for loss in losses:
            step += 1
            records.append(StepRecord(step=step, epoch=epoch, loss=loss))
    return records


def test_terminate_on_nan_fires_on_the_first_invalid_loss() -> None:
    records = _loss_records([[1.0, 0.9, math.inf, math.nan]])
    answer = replay_rules(capture(records, model()), TERMINATE_ON_NAN)
    assert answer.detected and answer.step == 3 and answer.layer is None and answer.categories == []
    assert not replay_rules(capture(_loss_records([[1.0, 0.5]]), model()), TERMINATE_ON_NAN).detected


def test_early_stopping_patience_one_on_loss() -> None:
    improving = _loss_records([[1.0, 0.9], [0.8, 0.7], [0.6, 0.5]])
    assert not replay_rules(capture(improving, model()), EARLY_STOPPING).detected
    stalls = _loss_records([[1.0, 0.9], [0.8, 0.7], [0.8, 0.9], [0.1, 0.1]])
    answer = replay_rules(capture(stalls, model()), EARLY_STOPPING)
    assert answer.detected and answer.step == 6  # the end of the third epoch
    last_epoch = _loss_records([[1.0, 0.9], [0.95, 0.99]])  # only known when training ends
    assert replay_rules(capture(last_epoch, model()), EARLY_STOPPING).step == 4
    nan_first = _loss_records([[math.nan], [0.5]])  # a NaN best is never beaten: stops at epoch 2
    assert replay_rules(capture(nan_first, model()), EARLY_STOPPING).step == 2


def test_epochs_inferred_from_the_partial_last_batch() -> None:
    """A torch loop gives no epoch numbers: a batch smaller than the first ends an epoch."""
    losses = [1.0, 0.9, 0.8, 0.95, 0.99, 0.97]
    records = [StepRecord(step=i + 1, loss=loss, data=vec(numel=16 if i % 3 == 2 else 32))
               for i, loss in enumerate(losses)]
    assert replay_rules(capture(records, model()), EARLY_STOPPING).step == 6  # epochs of 3 steps


# ---------------------------------------------------------------------------------------------- DeepDiagnosis
def _epochs(stats_fn, n_epochs: int = 2, per_epoch: int = 3, **record_kw: object) -> list[StepRecord]:
    return [StepRecord(step=e * per_epoch + i + 1, epoch=e, loss=1.0 / (e * per_epoch + i + 1), lr=0.01,
                       stats=stats_fn(e * per_epoch + i + 1), **record_kw)  # type: ignore[arg-type]
            for e in range(n_epochs) for i in range(per_epoch)]


def test_deepdiagnosis_dead_relu_at_epoch_end_with_data_fix_first() -> None:
    def stats(step: int) -> dict:
        out = varying(step)
        out[(0, Channel.OUTPUT)] = vec(mean=0.01 * step, zero_frac=0.8)
        return out

    normalized = model(DENSE, data=DataInfo(x_min=-1.0, x_max=1.0), optimizer=OptimizerInfo("sgd", 0.01))
    answer = replay_rules(capture(_epochs(stats), normalized), DEEPDIAGNOSIS)
    assert (answer.step, answer.layer, answer.symptom) == (3, "dense", "dead_units")
    assert answer.categories[0] == "activation"  # lr * ||g|| / ||W|| = 0.01: the symptom's default
    raw = model(DENSE, data=DataInfo(x_min=0.0, x_max=255.0))
    assert replay_rules(capture(_epochs(stats), raw), DEEPDIAGNOSIS).categories[0] == "data"


def test_deepdiagnosis_learning_rate_and_output_range() -> None:
    sigmoid = LayerInfo(1, "out", "Dense", activation="sigmoid", units=1)

    def stats(step: int) -> dict:
        return {**varying(step), (1, Channel.OUTPUT): vec(mean=0.1 * step, sat_frac=0.0),
                (1, Channel.WEIGHTS): vec(mean=0.2 + 1e-3 * step, norm=1.0),
                (1, Channel.WEIGHT_GRAD): vec(mean=0.1, norm=100.0)}

    info = model(DENSE, sigmoid, data=DataInfo(x_min=0.0, x_max=1.0, y_min=0.0, y_max=10.0))
    answer = replay_rules(capture(_epochs(stats), info), DEEPDIAGNOSIS)
    assert (answer.layer, answer.symptom) == ("out", "output_out_of_range")
    assert answer.categories[:2] == ["learning_rate", "activation"]  # 0.01 * 100 / 1 > 0.1


def test_deepdiagnosis_quiet_on_a_healthy_trace() -> None:
    info = model(DENSE, data=DataInfo(x_min=-1.0, x_max=1.0))
    assert not replay_rules(capture(_epochs(varying, n_epochs=6), info), DEEPDIAGNOSIS).detected


# ---------------------------------------------------------------------------------------------- AUTOTRAINER
LAST = LayerInfo(1, "out", "Dense", activation="linear", units=2)


def test_autotrainer_vanishing_and_exploding_gradients() -> None:
    def vanishing(step: int) -> dict:
        return {(0, Channel.WEIGHT_GRAD): vec(norm=1e-6), (1, Channel.WEIGHT_GRAD): vec(norm=1.0)}

    answer = replay_rules(capture(_epochs(vanishing), model(DENSE, LAST)), AUTOTRAINER)
    assert (answer.step, answer.symptom, answer.layer) == (1, "vanishing_gradient", None)
    assert answer.categories[0] == "activation"

    def exploding(step: int) -> dict:
        first = vec(norm=1.0 if step < 4 else 500.0)
        return {(0, Channel.WEIGHT_GRAD): first, (1, Channel.WEIGHT_GRAD): vec(norm=1.0)}

    answer = replay_rules(capture(_epochs(exploding), model(DENSE, LAST)), AUTOTRAINER)
    assert (answer.step, answer.symptom) == (4, "exploding_gradient")  # first batch of the second epoch


def test_autotrainer_slow_convergence_needs_three_epochs() -> None:
    def grads(step: int) -> dict:
        return {(0, Channel.WEIGHT_GRAD): vec(norm=1.0), (1, Channel.WEIGHT_GRAD): vec(norm=1.0)}

    records = _epochs(grads, n_epochs=4, per_epoch=2)
    for r in records:
        r.metrics["accuracy"] = 0.5 + 0.001 * r.step
    answer = replay_rules(capture(records, model(DENSE, LAST)), AUTOTRAINER)
    assert (answer.step, answer.symptom) == (6, "slow_convergence")
    assert answer.categories == ["optimizer", "learning_rate"]
    for r in records:
        r.metrics["accuracy"] = min(0.95, 0.3 + 0.1 * r.step)
    assert not replay_rules(capture(records, model(DENSE, LAST)), AUTOTRAINER).detected


# ---------------------------------------------------------------------------------------------- capture + e2e
def test_capture_round_trip(tmp_path: Path) -> None:
    records = _epochs(varying)
    original = capture(records, model(DENSE))
    save(original, tmp_path / "c.pkl")
    again = load(tmp_path / "c.pkl")
    assert [r.step for r in again.records] == [r.step for r in records]
    key = (0, Channel.OUTPUT)
    assert np.array_equal(again.records[-1].stats[key], records[-1].stats[key], equal_nan=True)
    assert again.model == original.model and again.seconds_at(4) == 2.0


@pytest.mark.slow
def test_end_to_end_on_the_toy_fixtures(tmp_path: Path) -> None:
    from benchmarks.bench import main

    out = tmp_path / "bench.json"
    status = main(["--cases", "toy_lr_nan,toy_healthy", "--jobs", "2", "--timeout", "120", "--no-docs",
                   "--output", str(out), "--zoo", str(FIXTURES / "cases"),
                   "--probe", str(FIXTURES / "fake_probe.py")])
    assert status == 0
    payload = json.loads(out.read_text())
    assert payload["schema"] == "deeplocalize.bench/2" and "deeplocalize" in payload["tools"]
    runs = {(r["case_id"], r["variant"]): r for r in payload["runs"]}
    assert set(runs) == {("toy_lr_nan", "buggy"), ("toy_lr_nan", "fixed"), ("toy_healthy", "healthy")}
    buggy = runs[("toy_lr_nan", "buggy")]
    assert buggy["captured"] and buggy["steps"] > 0
    assert buggy["answers"]["TerminateOnNaN"]["detected"]
    anomaly = buggy["answers"]["detect_anomaly"]
    assert anomaly["detected"] and anomaly["layer"] is None
    assert not runs[("toy_healthy", "healthy")]["answers"]["TerminateOnNaN"]["detected"]
    scores = payload["groups"]["zoo"]
    assert scores["TerminateOnNaN"]["detection"] == {"hits": 1, "total": 1, "rate": 1.0}
    # deeplocalize is scored on its own online run (deeplocalize run at default settings), not on a replay
    assert buggy["answers"]["deeplocalize"]["detected"] and buggy["suite"] == "zoo"
    assert scores["deeplocalize"]["fa_healthy"]["hits"] == 0


def test_tools_that_never_name_a_cause_or_layer_show_n_a() -> None:
    from benchmarks.baselines import TOOLS
    from benchmarks.report import summary_rows
    from benchmarks.scoring import score

    run = RunResult("c", "torch", "bug", "buggy", ("learning_rate",), "fc1", answers={
        t.name: Answer(True, 3, categories=["learning_rate"], layer="fc1") for t in TOOLS})
    rows = {row[0]: row for row in summary_rows(score([run], [t.name for t in TOOLS]),
                                                {t.name: t for t in TOOLS})}
    assert rows["deeplocalize"][2:5] == ["100% (1/1)"] * 3
    assert rows["TerminateOnNaN"][2:5] == ["n/a"] * 3  # names neither a cause nor a layer
    assert rows["AUTOTRAINER"][2:5] == ["100% (1/1)", "100% (1/1)", "n/a"]  # a cause, never a layer
    assert rows["DeepLocalize-2021"][2:5] == ["n/a", "n/a", "100% (1/1)"]


def test_the_real_programs_are_found_with_their_half_and_a_valid_truth() -> None:
    from benchmarks.cases import discover_real
    from benchmarks.real.split import half

    refs = discover_real()
    assert refs and all(r.script and r.path.exists() and r.half == half(r.id) for r in refs)
    for ref in refs:
        assert ref.case.kind in ("bug", "healthy")
        if ref.case.kind == "bug":
            assert ref.case.categories and ref.case.premise in ("nan", "worse")


def _payload(date: str, command: str, answers: dict[str, Answer]) -> dict:
    """A results file of one bug case whose fixed twin no tool flags (``answers``: on the buggy variant)."""
    quiet = {tool: Answer(False, applicable=a.applicable) for tool, a in answers.items()}
    runs = [RunResult("toy_lr_nan", "torch", "bug", variant, ("learning_rate",), suite="real", half="test",
                      answers=dict(answers) if variant == "buggy" else quiet)
            for variant in ("buggy", "fixed")]
    return {"command": command, "date": date, "machine": "m", "versions": {}, "seed": 0, "wall_s": 60.0,
            "runs": [r.to_dict() for r in runs]}


def test_the_docs_lead_with_the_newest_run_and_date_the_baselines_of_an_older_one(tmp_path: Path) -> None:
    from benchmarks.bench import TOOLS, default_output
    from benchmarks.report import write_docs

    hit = Answer(True, step=3, categories=["learning_rate"])
    older = _payload("2026-01-01 00:00 UTC", "bench --suite real", {"deeplocalize": Answer(False),
                                                                     "AUTOTRAINER": hit})
    newer = _payload("2026-02-01 00:00 UTC", "bench --suite real --no-baselines",
                     {"deeplocalize": hit, "AUTOTRAINER": Answer(False, applicable=False)})
    doc = write_docs(tmp_path / "benchmark.md", [older, newer], {t.name: t for t in TOOLS}).read_text()
    head = doc.split("## Tools")[0]
    assert "| deeplocalize | 100% (1/1) |" in head  # the newer run's figure, not the older 0%
    assert "| AUTOTRAINER (run of 2026-01-01 00:00 UTC, 1 bug cases) | 100% (1/1) |" in head
    assert "- test: `bench --suite real --no-baselines`" in head
    assert "- test (baselines): `bench --suite real`" in head
    assert default_output("real", "test", no_baselines=True).name == "bench-real-test-no-baselines.json"
    assert default_output("zoo", None, no_baselines=False).name == "bench.json"
