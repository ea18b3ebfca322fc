"""Structural facts read from the model: an extreme dropout and a layer frozen at its random initialization
(stacked linear layers and an RNN reading the batch as time: test_diagnose.py and the calibration rules)."""

from __future__ import annotations

import numpy as np

from deeplocalize.config import Config
from deeplocalize.diagnose import diagnose
from deeplocalize.diagnosis import Finding
from deeplocalize.model import LayerInfo, ModelInfo, OptimizerInfo
from deeplocalize.structure import extreme_dropout, frozen_at_random_init
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Phase, Severity, Symptom, Verdict

CFG = Config()


def _trace(steps: int = 30) -> Trace:
    trace = Trace()
    for step in range(1, steps + 1):
        trace.append(StepRecord(step=step, loss=2.3, lr=1e-3))
    return trace


def _stall(symptom: Symptom = Symptom.LOSS_NOT_DECREASING) -> Finding:
    return Finding(symptom, Phase.LOSS, None, 20, "the loss does not decrease", severity=Severity.FAULT)


def _dropout_model(rate: float) -> ModelInfo:
    layers = [LayerInfo(0, "fc1", "Linear", "relu", units=32, params=2080, trainable_params=2080),
              LayerInfo(1, "drop", "Dropout", None, extra={"dropout_rate": rate}),
              LayerInfo(2, "head", "Linear", "linear", units=10, params=330, trainable_params=330)]
    return ModelInfo("torch", layers=layers, optimizer=OptimizerInfo("adam", lr=1e-3))


def test_a_dropout_that_drops_most_inputs_is_named_as_the_architecture_fault() -> None:
    model = _dropout_model(0.9)
    assert extreme_dropout(model, CFG.dropout_rate_high).name == "drop"
    verdict, causes = diagnose([_stall()], _trace(), model, CFG)
    assert verdict == Verdict.FAULTY
    assert causes[0].category == Category.ARCHITECTURE and causes[0].layer.name == "drop"
    assert "drops 90% of its inputs" in causes[0].fix and "rate of 0.1" in causes[0].fix


def test_a_usual_dropout_rate_is_no_evidence() -> None:
    for rate in (0.2, 0.5, 1.0):  # a rate of 1 drops everything: not this rule's case
        model = _dropout_model(rate)
        assert extreme_dropout(model, CFG.dropout_rate_high) is None
        _, causes = diagnose([_stall()], _trace(), model, CFG)
        assert all(c.category != Category.ARCHITECTURE for c in causes)


def test_an_extreme_dropout_does_not_explain_a_nan() -> None:
    model = _dropout_model(0.9)
    nan = Finding(Symptom.NUMERICAL_ERROR, Phase.LOSS, None, 5, "NaN loss", severity=Severity.FAULT)
    _, causes = diagnose([nan], _trace(), model, CFG)
    assert all(c.category != Category.ARCHITECTURE for c in causes)


def _kernel(values: np.ndarray) -> dict[str, float]:
    return {"kernel_std": float(values.std()), "kernel_mean": float(values.mean()),
            "kernel_min": float(values.min()), "kernel_max": float(values.max()),
            "kernel_numel": float(values.size)}


def _frozen_model(weights: np.ndarray, framework: str = "keras", kind: str = "Embedding",
                  key: str = "frozen_kernel") -> ModelInfo:
    emb = LayerInfo(0, "embedding", kind, None, units=8, params=weights.size, trainable_params=0,
                    extra={key: _kernel(weights)})
    head = LayerInfo(1, "dense", "Dense", "relu", units=16, params=144, trainable_params=144)
    return ModelInfo(framework, layers=[emb, head], optimizer=OptimizerInfo("adam", lr=5e-3))


def test_a_layer_frozen_at_a_random_uniform_init_is_the_training_fault_when_learning_stalls() -> None:
    rng = np.random.default_rng(0)
    model = _frozen_model(rng.uniform(-0.05, 0.05, size=(500, 8)))  # Keras' default embedding init
    assert frozen_at_random_init(model).name == "embedding"
    _, causes = diagnose([_stall()], _trace(), model, CFG)
    assert causes[0].category == Category.TRAINING and causes[0].layer.name == "embedding"
    assert "random initialization" in causes[0].fix
    torch_default = rng.normal(0.0, 1.0, size=(500, 8))  # nn.Embedding's N(0, 1), read before any update
    assert frozen_at_random_init(_frozen_model(torch_default, "torch", key="init")).name == "embedding"


def test_pretrained_or_too_small_frozen_layers_and_runs_that_learn_are_left_alone() -> None:
    rng = np.random.default_rng(0)
    pretrained = rng.standard_t(3, size=(500, 8)) * 0.3  # heavy-tailed, as trained weights are
    assert frozen_at_random_init(_frozen_model(pretrained)) is None
    assert frozen_at_random_init(_frozen_model(rng.uniform(-0.05, 0.05, size=(20, 8)))) is None  # 160 values
    model = _frozen_model(rng.uniform(-0.05, 0.05, size=(500, 8)))
    model.layers[1].trainable_params = 0  # nothing trains: the frozen-model rules speak, not this one
    assert frozen_at_random_init(model) is None
    nan = Finding(Symptom.NUMERICAL_ERROR, Phase.LOSS, None, 5, "NaN loss", severity=Severity.FAULT)
    _, causes = diagnose([nan], _trace(), _frozen_model(rng.uniform(-0.05, 0.05, size=(500, 8))), CFG)
    assert all(c.category != Category.TRAINING for c in causes)  # a frozen layer makes no NaN
