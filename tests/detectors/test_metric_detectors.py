"""accuracy_not_increasing and overfitting on hand-built traces."""

from __future__ import annotations

import math

import numpy as np

from deeplocalize import summary
from deeplocalize.config import Config
from deeplocalize.detectors.metrics import accuracy_not_increasing, overfitting, validation_mismatch
from deeplocalize.model import DataInfo, LayerInfo, LossInfo, ModelInfo, OptimizerInfo
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Phase, Symptom

CFG = Config()
rng = np.random.default_rng(7)


def model(units: int = 10, loss: str = "cross_entropy", task: str = "multiclass") -> ModelInfo:
    return ModelInfo(
        framework="torch",
        layers=[LayerInfo(0, "fc", "Linear", "linear", units=units, params=99)],
        loss=LossInfo(loss, "logits"),
        optimizer=OptimizerInfo("sgd", lr=0.01),
        task=task,
    )


def make_trace(losses, accs=None, target=None, val=None, steps_per_epoch: int = 20) -> Trace:
    trace = Trace()
    for i, loss in enumerate(losses):
        rec = StepRecord(step=i + 1, epoch=i // steps_per_epoch, loss=float(loss), lr=0.01)
        if accs is not None:
            rec.metrics["accuracy"] = float(accs[i])
        if val is not None and (i + 1) % steps_per_epoch == 0:
            rec.metrics["val_loss"] = float(val[(i + 1) // steps_per_epoch - 1])
        if target is not None:
            rec.target = summary.summarize(target)
        trace.append(rec)
    return trace


def batch_acc(p: float, n: int, batch: int = 32) -> np.ndarray:
    return rng.binomial(batch, p, n) / batch


# ---------------------------------------------------------------- accuracy_not_increasing
def test_accuracy_stuck_at_one_over_k_fires() -> None:
    trace = make_trace(math.log(10) + rng.normal(0, 0.03, 100), batch_acc(0.1, 100))
    found = accuracy_not_increasing(trace, model(), CFG)
    assert len(found) == 1
    f = found[0]
    assert f.symptom == Symptom.ACCURACY_NOT_INCREASING and f.phase == Phase.METRIC and f.step == 1
    assert f.evidence["chance_accuracy"] == 0.1
    assert {c.category for c in f.causes} >= {Category.LEARNING_RATE, Category.DATA}


def test_accuracy_needs_min_steps() -> None:
    trace = make_trace(math.log(10) + rng.normal(0, 0.03, 40), batch_acc(0.1, 40))
    assert accuracy_not_increasing(trace, model(), CFG) == []


def test_increasing_accuracy_does_not_fire() -> None:
    p = np.clip(0.1 + np.arange(100) / 120, 0, 0.95)
    trace = make_trace(2.3 * np.exp(-np.arange(100) / 50), rng.binomial(32, p) / 32)
    assert accuracy_not_increasing(trace, model(), CFG) == []


def test_flat_high_accuracy_is_converged_not_stuck() -> None:
    trace = make_trace(0.2 + rng.normal(0, 0.02, 100), batch_acc(0.92, 100))
    assert accuracy_not_increasing(trace, model(), CFG) == []


def test_binary_stuck_at_majority_class_fires() -> None:
    y = (rng.random(256) < 0.9).astype(float)  # 90% positives
    prior = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    trace = make_trace(prior + rng.normal(0, 0.01, 100), batch_acc(0.9, 100), target=y)
    found = accuracy_not_increasing(trace, model(1, "bce_logits", "binary"), CFG)
    assert found and abs(found[0].evidence["chance_accuracy"] - y.mean()) < 1e-9


def test_binary_at_majority_share_but_loss_learned_does_not_fire() -> None:
    y = (rng.random(256) < 0.9).astype(float)
    losses = np.concatenate([np.full(10, 0.69), np.full(90, 0.12)]) + rng.normal(0, 0.01, 100)
    trace = make_trace(losses, batch_acc(0.92, 100), target=y)
    assert accuracy_not_increasing(trace, model(1, "bce_logits", "binary"), CFG) == []


def test_multilabel_is_skipped() -> None:
    trace = make_trace(0.69 + rng.normal(0, 0.01, 100), batch_acc(0.1, 100))
    assert accuracy_not_increasing(trace, model(5, "bce_logits", "multilabel"), CFG) == []


# ---------------------------------------------------------------- overfitting
TRAIN = 1.0 * np.exp(-np.arange(120) / 40) + 0.05


def test_overfitting_fires_when_val_rises_while_train_falls() -> None:
    val = [0.9, 0.7, 0.75, 0.85, 0.95, 1.1]
    found = overfitting(make_trace(TRAIN, val=val), model(), CFG)
    assert len(found) == 1
    f = found[0]
    assert f.symptom == Symptom.OVERFITTING and f.layer is None
    assert f.step == 60 and f.evidence["best_step"] == 40  # val rose first at the 3rd evaluation
    assert f.causes[0].category == Category.TRAINING and "step 40" in f.causes[0].fix


def test_val_falling_is_not_overfitting() -> None:
    assert overfitting(make_trace(TRAIN, val=[0.9, 0.7, 0.6, 0.5, 0.45, 0.4]), model(), CFG) == []


def test_single_rise_is_within_patience() -> None:
    assert overfitting(make_trace(TRAIN, val=[0.9, 0.7, 0.6, 0.5, 0.45, 0.6]), model(), CFG) == []


def test_small_gap_is_not_overfitting() -> None:
    train = np.full(120, 1.0) - np.arange(120) * 3e-4  # val 10% above its best, but only ~3% above train
    assert overfitting(make_trace(train, val=[0.95, 0.9, 0.92, 0.94, 0.96, 0.99]), model(), CFG) == []


def test_no_validation_no_finding() -> None:
    assert overfitting(make_trace(TRAIN), model(), CFG) == []
    assert validation_mismatch(make_trace(TRAIN), model(), CFG) == []


def _classifier_with_prior() -> ModelInfo:
    info = model()
    info.data = DataInfo(y_prior_entropy=math.log(10), n_classes=10)
    return info


def test_validation_that_never_improves_while_training_learns_is_a_data_mismatch() -> None:
    """The validation inputs normalized differently: training falls from ln 10 to 0.3, validation sits
    above chance from the first evaluation on (a bug only validation shows)."""
    train = math.log(10) * np.exp(-np.arange(120) / 25) + 0.3
    val = [2.6, 2.9, 3.4, 3.2, 3.6, 3.9]
    found = validation_mismatch(make_trace(train, val=val), _classifier_with_prior(), CFG)
    assert len(found) == 1 and found[0].phase == Phase.METRIC and found[0].causes[0].category == Category.DATA
    # overfitting is not a mismatch: validation improved first, and ends below chance
    over = [1.5, 0.9, 0.8, 0.95, 1.1, 1.3]
    assert validation_mismatch(make_trace(train, val=over), _classifier_with_prior(), CFG) == []


def test_keras_accuracy_names_are_recognized() -> None:
    trace = Trace()
    for i, acc in enumerate(np.random.default_rng(7).binomial(32, 0.1, 80) / 32):
        trace.append(StepRecord(step=i + 1, loss=2.3, metrics={"sparse_categorical_accuracy": float(acc)}))
    assert accuracy_not_increasing(trace, model(), CFG)
