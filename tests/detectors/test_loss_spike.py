"""loss_spike on hand-built traces: one spike and its leading layer, repeated spikes, a divergence."""

from __future__ import annotations

import numpy as np

from deeplocalize import summary
from deeplocalize.config import Config
from deeplocalize.detectors.loss_spike import loss_spike
from deeplocalize.model import LayerInfo, LossInfo, ModelInfo, OptimizerInfo
from deeplocalize.monitor import Monitor
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Channel, Phase, Severity, Symptom

CFG = Config()
MODEL = ModelInfo(
    framework="torch",
    layers=[LayerInfo(0, "fc1", "Linear", "linear", units=32, params=2080),
            LayerInfo(1, "act", "ReLU", "relu"),
            LayerInfo(2, "fc2", "Linear", "linear", units=10, params=330)],
    loss=LossInfo("cross_entropy", "logits"), optimizer=OptimizerInfo("sgd", lr=0.01), task="multiclass")


def records(losses: np.ndarray, grad_growth: dict[int, tuple[int, float]] | None = None) -> list[StepRecord]:
    """One record per loss, with every layer's gradient norm (``grad_growth``: step position -> (layer,
    factor) for a layer whose gradient grows at that step)."""
    out = []
    for i, loss in enumerate(losses):
        rec = StepRecord(step=i + 1, loss=float(loss), lr=0.01)
        for layer in (0, 2):
            factor = 1.0
            if grad_growth and i in grad_growth and grad_growth[i][0] == layer:
                factor = grad_growth[i][1]
            rec.stats[(layer, Channel.WEIGHT_GRAD)] = summary.summarize(np.full(10, 0.1 * factor))
        out.append(rec)
    return out


def trace_of(recs: list[StepRecord]) -> Trace:
    trace = Trace()
    for rec in recs:
        trace.append(rec)
    return trace


def noisy(n: int, seed: int = 0) -> np.ndarray:
    return 0.5 + 0.05 * np.random.default_rng(seed).standard_normal(n)


def test_one_bad_batch_is_a_warning_at_its_step_led_by_the_layer_whose_gradient_grew() -> None:
    losses = noisy(200)
    losses[120] = 4.0
    found = loss_spike(trace_of(records(losses, {120: (0, 30.0)})), MODEL, CFG)
    assert len(found) == 1
    spike = found[0]
    assert spike.symptom == Symptom.LOSS_SPIKE and spike.step == 121
    assert spike.layer is not None and spike.layer.name == "fc1" and spike.phase == Phase.BACKWARD
    assert spike.evidence["recovered"] is True and spike.evidence["spikes"] == 1
    assert "came back" in spike.message
    assert spike.severity is None  # the symptom's default: a warning
    assert spike.causes[0].category == Category.DATA


def test_it_waits_until_the_steps_after_the_spike_tell_recovery_from_divergence() -> None:
    losses = noisy(125)
    losses[120] = 4.0
    assert loss_spike(trace_of(records(losses)), MODEL, CFG) == []


def test_a_loss_that_stays_up_after_the_spike_is_a_divergence() -> None:
    losses = noisy(200)
    losses[120:] = 4.0 + 0.05 * np.random.default_rng(1).standard_normal(80)
    spike = loss_spike(trace_of(records(losses)), MODEL, CFG)[0]
    assert spike.evidence["recovered"] is False and "diverged" in spike.message
    assert spike.layer is None and spike.phase == Phase.LOSS  # no layer's gradient grew by 2x
    assert spike.causes[0].category == Category.LEARNING_RATE


def test_a_jump_the_loss_keeps_falling_from_is_new_data_not_a_divergence() -> None:
    # a curriculum adds harder classes at step 121: the loss jumps, then learns them
    losses = noisy(200) * 0.1
    noise = 0.05 * np.random.default_rng(1).standard_normal(80)
    losses[120:] = 4.0 * np.exp(-np.arange(80) / 20) + 0.3 + noise
    spike = loss_spike(trace_of(records(losses)), MODEL, CFG)[0]
    assert spike.evidence["recovered"] is False and spike.evidence["falling_since"] is True
    assert "diverged" not in spike.message and "falling since" in spike.message
    assert spike.causes[0].category != Category.LEARNING_RATE  # no "lower the lr" first for new data


def test_repeated_spikes_are_told_apart_from_one() -> None:
    losses = noisy(400)
    for i in (100, 180, 260, 340):
        losses[i] = 4.0
    spike = loss_spike(trace_of(records(losses)), MODEL, CFG)[0]
    assert spike.step == 101 and spike.evidence["spikes"] == 4
    assert spike.evidence["spike_steps"] == [101, 181, 261, 341] and "repeated" in spike.message


def test_healthy_noise_and_a_falling_loss_give_nothing() -> None:
    falling = 0.05 + 2.25 * np.exp(-np.arange(400) / 60) + np.random.default_rng(2).normal(0, 0.05, 400)
    assert loss_spike(trace_of(records(noisy(400))), MODEL, CFG) == []
    assert loss_spike(trace_of(records(np.abs(falling))), MODEL, CFG) == []


def test_the_monitor_keeps_the_latest_summary_of_the_spikes() -> None:
    """The detector refreshes its finding: later spikes update the count, the confirming step stays."""
    losses = noisy(400)
    for i in (100, 180, 260):
        losses[i] = 4.0
    monitor = Monitor("torch", CFG, on_fault="continue")
    monitor.set_model(MODEL)
    for rec in records(losses):
        monitor.record(rec)
    monitor.finish(completed=True)
    spikes = [f for f in monitor.findings if f.symptom == Symptom.LOSS_SPIKE]
    assert len(spikes) == 1 and spikes[0].evidence["spikes"] == 3
    assert spikes[0].detected_at is not None and spikes[0].detected_at < 180
    assert spikes[0].effective_severity == Severity.WARNING


def test_noise_near_a_converged_loss_is_no_spike_however_large_its_ratio() -> None:
    """A classifier at 0.0004 after 0.69: a batch at 0.005 passes both spike rules (12x the median) but takes
    back under 1% of what the run gained; a batch at 0.3 takes back 43% and is one."""
    rng = np.random.default_rng(0)
    losses = np.concatenate([np.linspace(0.69, 0.001, 100), 0.0004 * (1 + 0.05 * rng.standard_normal(300))])
    small, large = losses.copy(), losses.copy()
    small[350], large[350] = 0.005, 0.3
    assert loss_spike(trace_of(records(small)), MODEL, CFG) == []
    found = loss_spike(trace_of(records(large)), MODEL, CFG)
    assert [(f.symptom, f.step) for f in found] == [(Symptom.LOSS_SPIKE, 351)]
