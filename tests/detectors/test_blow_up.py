"""blow_up on hand-built loss curves: a loss thrown far above its start that never comes back below it is
a learning-rate fault once the run ends (provisional, a warning, while it goes on); a blow-up the run
learns from, a small rise, or too few steps after it give nothing."""

from __future__ import annotations

from deeplocalize.config import Config
from deeplocalize.detectors.blow_up import blow_up
from deeplocalize.model import ModelInfo, OptimizerInfo
from deeplocalize.trace import StepRecord, Trace
from deeplocalize.vocabulary import Category, Severity, Symptom

CFG = Config()
ADAM = ModelInfo(framework="torch", optimizer=OptimizerInfo(name="Adam", lr=0.1))


def curve(losses: list[float], completed: bool) -> Trace:
    out = Trace()
    for step, loss in enumerate(losses, start=1):
        out.append(StepRecord(step=step, loss=loss))
    out.completed = completed
    return out


def wrecked(settled: float, steps: int = 60) -> list[float]:
    """ln 10 at step 1, a blow-up over the next steps, then ``settled`` (with a little noise)."""
    return [2.3026, 1.4e5, 916.0, 3292.0, 59.0, 4.2] + [settled + 0.01 * (i % 3) for i in range(steps - 6)]


def test_a_blow_up_the_loss_never_comes_back_from_is_a_learning_rate_fault_once_the_run_ended() -> None:
    (finding,) = blow_up(curve(wrecked(2.31), completed=True), ADAM, CFG)
    assert finding.symptom == Symptom.LOSS_NOT_DECREASING and "provisional" not in finding.evidence
    assert finding.step == 2 and finding.layer is None
    assert [c.category for c in finding.causes] == [Category.LEARNING_RATE, Category.OPTIMIZER]
    assert "lr=0.1" in finding.causes[0].fix and "blew up" in finding.message


def test_while_the_run_goes_on_it_is_provisional() -> None:
    (finding,) = blow_up(curve(wrecked(2.31), completed=False), ADAM, CFG)
    assert finding.severity == Severity.WARNING and finding.evidence["provisional"] is True


def test_a_blow_up_the_run_learns_from_a_small_rise_and_too_few_steps_after_it_give_nothing() -> None:
    assert blow_up(curve(wrecked(1.2), completed=True), ADAM, CFG) == []  # learned below its start
    mild = [2.3026, 9.0, 6.0] + [2.31] * 40  # a rise of 3.9x: not a blow-up
    assert blow_up(curve(mild, completed=True), ADAM, CFG) == []
    assert blow_up(curve(wrecked(2.31)[:8], completed=True), ADAM, CFG) == []  # 6 steps after the peak
    assert blow_up(curve([*wrecked(2.31), float("nan")], completed=True), ADAM, CFG) == []  # NaN: not ours


def test_a_late_peak_is_the_spike_rules_and_a_one_sample_batch_has_no_starting_level() -> None:
    late = [2.3026] * 40 + [1e4] + [2.31] * 30  # past the first spike_min_history steps: loss_spike judges it
    assert blow_up(curve(late, completed=True), ADAM, CFG) == []
    one_sample = ModelInfo(framework="keras", optimizer=OptimizerInfo(name="SGD", lr=0.1), batch_size=1)
    assert blow_up(curve(wrecked(2.31), completed=True), one_sample, CFG) == []
