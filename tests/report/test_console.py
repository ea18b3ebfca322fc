"""The console report: verdict first, then the fix, then the evidence; colour only on request or a TTY."""

from __future__ import annotations

import io

from deeplocalize.diagnosis import Diagnosis, Finding, RootCause
from deeplocalize.model import LayerInfo, LayerRef
from deeplocalize.report.console import MAX_EVIDENCE, print_diagnosis, render_text
from deeplocalize.vocabulary import Category, Phase, Symptom, Verdict

FC2 = LayerRef(2, "fc2", "Linear")


def faulty(n_findings: int = 2) -> Diagnosis:
    findings = [
        Finding(Symptom.NUMERICAL_ERROR, Phase.FORWARD, FC2, 17, "output of `fc2` became NaN"),
        Finding(Symptom.EXPLODING_TENSOR, Phase.WEIGHTS, FC2, 15, "weights of `fc2` reached 1e5"),
    ]
    findings += [Finding(Symptom.DEAD_UNITS, Phase.FORWARD, None, 20 + i, f"extra {i}")
                 for i in range(n_findings - 2)]
    return Diagnosis(
        verdict=Verdict.FAULTY, framework="torch", steps_observed=17, stopped_early=True,
        layers=[LayerInfo(0, "fc1", "Linear"), LayerInfo(2, "fc2", "Linear")],
        findings=findings,
        root_causes=[
            RootCause(Category.LEARNING_RATE, None, 0.8, "lower the learning rate from 0.3 to 0.03", [0, 1]),
            RootCause(Category.INITIALIZATION, FC2, 0.3, "re-initialize `fc2`", [1]),
        ],
        tool_errors=["store: OSError: disk full"],
    )


def test_verdict_then_fix_then_evidence() -> None:
    text = render_text(faulty())
    lines = text.splitlines()
    assert lines[0].startswith(
        "deeplocalize: FAULTY: numerical error in layer 2 `fc2` (Linear), forward phase, step 17")
    assert lines[1] == "Fix: lower the learning rate from 0.3 to 0.03"
    assert "learning_rate (confidence 0.80)" in lines[2]
    assert text.index("Fix:") < text.index("Evidence (2 findings") < text.index("`fc2` reached 1e5")
    assert "2. initialization (0.30): re-initialize `fc2`" in text
    assert "stopped early" in text and "disk full" in text
    assert str(faulty()) == text  # Diagnosis.__str__ uses it


def test_long_evidence_is_cut() -> None:
    text = render_text(faulty(MAX_EVIDENCE + 5))
    assert "... and 5 more" in text
    assert "extra 0" in text and f"extra {MAX_EVIDENCE + 2}" not in text


def test_healthy_and_inconclusive() -> None:
    healthy = Diagnosis(verdict=Verdict.HEALTHY, framework="keras", steps_observed=1200,
                        layers=[LayerInfo(i, f"d{i}", "Dense") for i in range(3)])
    assert render_text(healthy) == "deeplocalize: HEALTHY: no fault found in 1200 steps across 3 layers"
    short = Diagnosis(verdict=Verdict.INCONCLUSIVE, framework="torch", steps_observed=1)
    assert "INCONCLUSIVE: 1 step observed, too few" in render_text(short)
    empty = Diagnosis(verdict=Verdict.INCONCLUSIVE, framework="torch")
    assert "no training step was observed" in render_text(empty)


def test_plain_unless_terminal_colour_when_asked() -> None:
    plain = io.StringIO()
    print_diagnosis(faulty(), file=plain)
    assert plain.getvalue() == render_text(faulty()) + "\n"
    coloured = io.StringIO()
    print_diagnosis(faulty(), file=coloured, color=True)
    assert "\x1b[" in coloured.getvalue() and "Fix: lower the learning rate" in coloured.getvalue()


def test_several_models_are_shown_apart_run_verdict_first() -> None:
    bad = faulty()
    bad.model = "Generator"
    good = Diagnosis(verdict=Verdict.HEALTHY, framework="torch", steps_observed=40,
                     layers=[LayerInfo(0, "fc", "Linear")], model="Discriminator")
    text = render_text(Diagnosis.combine([good, bad]))
    lines = text.splitlines()
    assert lines[0] == "deeplocalize: FAULTY: 2 models trained, 1 faulty"
    assert text.index("Model `Discriminator`: HEALTHY") < text.index(
        "Model `Generator`: FAULTY: numerical error")
    assert text.index("Model `Generator`") < text.index("Fix: lower the learning rate")
    assert text.count("disk full") == 1  # run-wide lines once


def test_a_distributed_job_names_the_rank_of_each_finding_and_keeps_it_in_the_json() -> None:
    job = faulty()
    job.world_size = 2
    job.findings[0].rank, job.findings[1].rank = 1, 0
    text = render_text(job)
    assert "step 17 on rank 1 of 2" in text.splitlines()[0]
    assert "[rank 1] output of `fc2` became NaN" in text and "[rank 0] weights" in text
    back = Diagnosis.from_dict(job.to_dict())
    assert back.world_size == 2 and [f.rank for f in back.findings] == [1, 0]
    single = faulty().to_dict()
    assert "world_size" not in single and all("rank" not in f for f in single["findings"])
