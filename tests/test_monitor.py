"""The monitor: findings kept per key, the stop policy on firm evidence, provisional findings withdrawn."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from deeplocalize.config import Config
from deeplocalize.detectors import Detector
from deeplocalize.diagnosis import Finding
from deeplocalize.model import ModelInfo
from deeplocalize.monitor import Monitor
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import OnFault, Phase, Severity, Symptom, Verdict

CONFIG = Config(check_every=10)


def _unscaled(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
    """A warning from the first step on (unscaled inputs)."""
    return [Finding(Symptom.UNNORMALIZED_INPUT, Phase.DATA, None, 1, "inputs up to 4,862")]


def _stall_until(last: int, provisional: bool = True) -> Callable[[Trace, ModelInfo, Config], list[Finding]]:
    """A loss stall seen at every check up to step ``last`` (judged early: provisional)."""
    def detect(trace: Trace, model: ModelInfo, config: Config) -> list[Finding]:
        if trace.last_step > last:
            return []
        stall = Finding(Symptom.LOSS_NOT_DECREASING, Phase.LOSS, None, 10, "3x the chance level")
        if provisional:
            stall.severity = Severity.WARNING
            stall.evidence["provisional"] = True
        return [stall]
    return detect


def _monitor(stall: Callable[[Trace, ModelInfo, Config], list[Finding]]) -> Monitor:
    return Monitor("torch", CONFIG, on_fault=OnFault.STOP,
                   detectors=[Detector("unscaled", _unscaled, "first"), Detector("stall", stall, "check")])


def _steps(monitor: Monitor, first: int, last: int) -> None:
    for step in range(first, last + 1):
        monitor.record(StepRecord(step=step, loss=1.0))


def test_a_provisional_stall_escalating_a_warning_is_faulty_but_never_stops_training() -> None:
    monitor = _monitor(_stall_until(10_000))
    _steps(monitor, 1, 40)
    assert monitor.fault_confirmed  # the diagnosis so far: the warning explains the stall
    assert monitor.action() is None  # but a stall judged early is no evidence to stop on
    assert monitor.finish(completed=True).verdict == Verdict.FAULTY


def test_a_provisional_stall_the_run_then_leaves_is_withdrawn() -> None:
    monitor = _monitor(_stall_until(30))
    _steps(monitor, 1, 30)
    assert [f.symptom for f in monitor.findings] == [Symptom.UNNORMALIZED_INPUT, Symptom.LOSS_NOT_DECREASING]
    _steps(monitor, 31, max(60, CONFIG.min_steps_for_verdict))  # the check at step 40 no longer sees it
    assert [f.symptom for f in monitor.findings] == [Symptom.UNNORMALIZED_INPUT]
    diagnosis = monitor.finish(completed=True)
    assert diagnosis.verdict == Verdict.HEALTHY  # the warning stays a warning


def test_firm_evidence_stops_and_is_never_withdrawn() -> None:
    monitor = _monitor(_stall_until(30, provisional=False))
    _steps(monitor, 1, 10)
    assert monitor.action() == OnFault.STOP
    _steps(monitor, 11, 60)
    assert Symptom.LOSS_NOT_DECREASING in [f.symptom for f in monitor.findings]


def _rising(offset: float) -> Monitor:
    """A loss rising from -0.08 to 0 in mini-batch noise of +-0.1, shifted by ``offset``."""
    monitor = Monitor("torch", Config(), on_fault=OnFault.STOP)
    rng = np.random.default_rng(0)
    for step in range(1, 201):
        level = -0.08 + 0.08 * step / 200
        monitor.record(StepRecord(step=step, loss=offset + level + float(rng.normal(0, 0.1))))
    return monitor


def test_a_loss_that_changes_sign_is_a_surrogate_whose_level_is_not_judged() -> None:
    # a policy gradient weighted by advantages: as often negative as positive, its rise means nothing
    assert Symptom.LOSS_NOT_DECREASING not in [f.symptom for f in _rising(0.0).findings]
    assert _rising(0.0).action() is None
    # the same curve on a loss bounded below by zero is a loss that rises
    assert Symptom.LOSS_NOT_DECREASING in [f.symptom for f in _rising(1.0).findings]


def test_a_policy_gradient_in_the_script_leaves_every_model_s_curve_unjudged() -> None:
    # actor-critic: the critic's regression targets are the returns of a policy that improves, so its loss
    # rises as the agent learns; the actor's advantage-weighted loss is what says the script is one
    actor = Monitor("torch", Config(), on_fault=OnFault.STOP)
    critic = actor.spawn()
    rng = np.random.default_rng(0)
    for step in range(1, 201):
        actor.record(StepRecord(step=step, loss=float(rng.normal(0, 0.1))))
        critic.record(StepRecord(step=step, loss=1.0 + step / 200 + float(rng.normal(0, 0.1))))
    assert actor.policy_models == critic.policy_models == {id(actor)}
    assert Symptom.LOSS_NOT_DECREASING not in [f.symptom for f in critic.findings]
    alone = Monitor("torch", Config(), on_fault=OnFault.STOP)  # the same critic with no policy gradient
    for step in range(1, 201):
        alone.record(StepRecord(step=step, loss=1.0 + step / 200 + float(rng.normal(0, 0.1))))
    assert Symptom.LOSS_NOT_DECREASING in [f.symptom for f in alone.findings]


def _actor_critic(actor_loss: float) -> tuple[Monitor, Monitor]:
    """An actor whose loss sits at ``actor_loss`` (never changing sign) and a critic whose loss rises."""
    actor = Monitor("torch", Config(), on_fault=OnFault.STOP)
    critic = actor.spawn()
    rng = np.random.default_rng(0)
    for step in range(1, 201):
        actor.record(StepRecord(step=step, loss=actor_loss - abs(float(rng.normal(0, 0.01)))))
        critic.record(StepRecord(step=step, loss=1.0 + step / 200 + float(rng.normal(0, 0.1))))
    return actor, critic


def test_an_objective_below_zero_in_the_script_leaves_the_other_models_curves_unjudged() -> None:
    # PPO's clipped surrogate with normalized advantages: 0 at each update's first step, below 0 after, so
    # it rarely changes sign; the critic regressing on the returns of the improving policy still rises
    actor, critic = _actor_critic(-0.02)
    assert actor.policy_models == {id(actor)}
    assert Symptom.LOSS_NOT_DECREASING not in [f.symptom for f in critic.findings]
    # the same pair with a fit (a loss above zero) on the first model: the critic's rise is a fault
    actor, critic = _actor_critic(0.5)
    assert actor.policy_models == set()
    assert Symptom.LOSS_NOT_DECREASING in [f.symptom for f in critic.findings]
