"""Hand-built diagnoses and traces for the report tests (no framework needed).

``nan_run``: a small MLP whose second Linear layer (``fc2``, index 2) produces the first NaN at step 17
after its weights blow up (learning rate too high). ``deep_run``: the same story in a 100-layer model,
at layer 57.
"""

from __future__ import annotations

import numpy as np

from deeplocalize import summary
from deeplocalize.diagnosis import Diagnosis, Finding, RootCause
from deeplocalize.model import LayerInfo, LossInfo, ModelInfo, OptimizerInfo
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Symptom, Verdict

NAN_STEP = 17


def _layers(n: int) -> list[LayerInfo]:
    layers = []
    for i in range(n):
        if i % 2 == 0:
            layers.append(LayerInfo(index=i, name=f"fc{i // 2 + 1}", type="Linear", activation="linear",
                                    units=16, params=16 * 17, trainable_params=16 * 17, unit_axis=-1))
        else:
            layers.append(LayerInfo(index=i, name=f"act{i // 2 + 1}", type="ReLU", activation="relu",
                                    units=16, unit_axis=-1))
    return layers


def build(n_layers: int = 6, faulty: int = 2, steps: int = 30, seed: int = 0,
          nan_step: int = NAN_STEP) -> tuple[Diagnosis, Trace, ModelInfo]:
    """A NaN born in layer ``faulty`` at ``nan_step``; every layer after it is non-finite too."""
    rng = np.random.default_rng(seed)
    layers = _layers(n_layers)
    model = ModelInfo(framework="torch", layers=layers,
                      loss=LossInfo("cross_entropy", expects="logits", framework_name="CrossEntropyLoss"),
                      optimizer=OptimizerInfo(name="sgd", lr=5.0), task="multiclass", batch_size=32)
    trace = Trace(window=64, history=64)
    for step in range(1, steps + 1):
        blown = step >= nan_step
        growth = 1.0 + 0.5 * max(0, step - 8) ** 2
        stats: dict[tuple[int, Channel], np.ndarray] = {}
        for layer in layers:
            i = layer.index
            scale = growth if i >= faulty else 1.0
            out = rng.normal(0.1, 0.5 * scale, size=(32, 16))
            if layer.type == "ReLU":
                out = np.maximum(out, 0)
            if blown and i >= faulty:
                out[rng.random(out.shape) < (0.6 if i == faulty else 1.0)] = np.nan
            stats[(i, Channel.OUTPUT)] = summary.summarize(out, unit_axis=-1)
            grad = rng.normal(0, 1e-2 * scale, size=(32, 16))
            if blown and i >= faulty - 1:
                grad[:] = np.nan
            stats[(i, Channel.OUTPUT_GRAD)] = summary.summarize(grad)
            if layer.params:
                w = rng.normal(0, 0.3 * (scale if i == faulty else 1.0), size=layer.params)
                if blown and i == faulty:
                    w[:5] = np.inf
                stats[(i, Channel.WEIGHTS)] = summary.summarize(w)
                stats[(i, Channel.WEIGHT_GRAD)] = summary.summarize(
                    np.full(layer.params, np.nan) if blown else rng.normal(0, 1e-2 * scale, layer.params))
                stats[(i, Channel.UPDATE)] = summary.summarize(
                    np.full(layer.params, np.nan) if blown else rng.normal(0, 5e-2 * scale, layer.params))
        loss = float("nan") if blown else 2.3 / (1 + 0.1 * step) + 0.02 * max(0, step - 10) ** 2
        trace.append(StepRecord(step=step, epoch=(step - 1) // 10, loss=loss, lr=5.0, stats=stats,
                                metrics={"accuracy": min(0.9, 0.1 + 0.04 * step)} if not blown else {}))
    fl = layers[faulty]
    findings = [
        Finding(Symptom.EXPLODING_TENSOR, Phase.WEIGHTS, fl.ref, 12,
                f"layer `{fl.name}`: weight norm grew 40x in 4 steps", evidence={"ratio": 40.0}),
        Finding(Symptom.NUMERICAL_ERROR, Phase.FORWARD, fl.ref, nan_step,
                f"layer `{fl.name}` produced NaN from finite inputs at step {nan_step}",
                evidence={"nonfinite": 307, "input_finite": True, "detected_at_step": nan_step}),
        Finding(Symptom.NUMERICAL_ERROR, Phase.LOSS, None, nan_step, f"loss is NaN at step {nan_step}"),
    ]
    causes = [
        RootCause(Category.LEARNING_RATE, fl.ref, 0.82,
                  f"lower the learning rate (now 5.0) to 0.01-0.1; layer `{fl.name}` diverged first",
                  findings=[0, 1]),
        RootCause(Category.INITIALIZATION, fl.ref, 0.2,
                  f"initialize `{fl.name}` with a smaller scale (e.g. Kaiming uniform)", findings=[0]),
    ]
    diagnosis = Diagnosis(verdict=Verdict.FAULTY, framework="torch", steps_observed=steps, stopped_early=True,
                          layers=layers, findings=findings, root_causes=causes)
    return diagnosis, trace, model


def healthy(steps: int = 40, seed: int = 1) -> tuple[Diagnosis, Trace, ModelInfo]:
    """A healthy 4-layer run: finite, loss decreasing, no findings."""
    rng = np.random.default_rng(seed)
    layers = _layers(4)
    trace = Trace(window=64, history=64)
    for step in range(1, steps + 1):
        stats = {}
        for layer in layers:
            stats[(layer.index, Channel.OUTPUT)] = summary.summarize(rng.normal(0, 1, (8, 16)), unit_axis=-1)
        trace.append(StepRecord(step=step, loss=1.0 / step, stats=stats))
    diagnosis = Diagnosis(verdict=Verdict.HEALTHY, framework="torch", steps_observed=steps, layers=layers)
    return diagnosis, trace, ModelInfo(framework="torch", layers=layers)
