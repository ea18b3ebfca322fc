"""Leave one rule out: each rule's detections, the ones nothing else makes, its false alarms."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.capture import Capture, save
from benchmarks.scoring import RunResult

from benchmarks import ablation
from deeplocalize.diagnosis import Diagnosis, Finding
from deeplocalize.vocabulary import Phase, Severity, Symptom, Verdict


def _finding(symptom: Symptom, severity: Severity, explains: tuple[str, ...] = ()) -> Finding:
    return Finding(symptom, Phase.LOSS, None, 5, "m", severity=severity, explains=explains)


def _store(traces: Path, case: str, variant: str, findings: list[Finding]) -> dict:
    verdict = Verdict.FAULTY if any(f.severity == Severity.FAULT for f in findings) else Verdict.HEALTHY
    online = Diagnosis(verdict, "torch", findings=findings).to_dict()
    save(Capture(case, variant, 0, "probe", online=online), traces / f"{case}.{variant}.online.s0.pkl")
    kind = "healthy" if variant == "healthy" else "bug"
    return RunResult(case, "torch", kind, variant, suite="real", half="test").to_dict()


def test_a_rule_is_sole_only_where_nothing_else_makes_the_run_faulty(tmp_path: Path, capsys) -> None:
    nan = _finding(Symptom.NUMERICAL_ERROR, Severity.FAULT)
    stall = _finding(Symptom.LOSS_NOT_DECREASING, Severity.FAULT)
    # unscaled inputs: a warning that the stall made a fault; without the stall it is a warning again
    inputs = _finding(Symptom.UNNORMALIZED_INPUT, Severity.FAULT, explains=("loss_not_decreasing",))
    runs = [_store(tmp_path, "a", "buggy", [nan, stall]), _store(tmp_path, "b", "buggy", [inputs, stall]),
            _store(tmp_path, "b", "fixed", [stall]), _store(tmp_path, "c", "healthy", [])]
    counts = ablation.tally(runs, [tmp_path])["test"]
    assert (counts.buggy, counts.detected) == (2, 2)
    assert counts.fires == {"numerical_error": 1, "loss_not_decreasing": 2, "unnormalized_input": 1}
    assert counts.sole == {"loss_not_decreasing": 1}  # in "b" the input warning falls with the stall
    assert counts.false_alarms == {"loss_not_decreasing": 1}

    results = tmp_path / "results.json"
    results.write_text(json.dumps({"runs": runs}))
    assert ablation.main(["--traces", str(tmp_path), str(results)]) == 0
    out = capsys.readouterr().out
    assert "test: 2/2 buggy runs faulty" in out and "| loss_not_decreasing | 2 / 1 | 1 |" in out
