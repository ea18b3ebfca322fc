"""Leave one rule out: what each rule adds to a benchmark run's verdicts, and what the rest does without it.

    python -m benchmarks.bench --suite real --half test --no-baselines --traces /tmp/traces  # keep the runs
    python -m benchmarks.ablation --traces /tmp/traces benchmarks/results/bench-real-test-no-baselines.json

A rule is a symptom (each detector reports one or a few; the pre-flight checks one each), refined by the
finding's ``evidence["rule"]`` where a detector names which of its rules fired. For every run the
results file lists, the diagnosis deeplocalize reached online is read from its capture; each rule's
findings are taken out and the verdict is worked out again from the rest (``severity.resolve``: a warning
that a removed failure had made a fault is a warning again). Per group (test half, calibration half, zoo):

- **fires**: buggy runs with a fault of this rule; **sole**: of those, the runs that are faulty only because
  of it (without it the rest calls them healthy), so the detection figure without the rule is the group's
  detection minus *sole*;
- **false alarms**: fixed twins and healthy programs with a fault of this rule.

A rule whose detections are all *sole* on the cases it was written for, and that never fires elsewhere,
rests on those cases alone; the test half, which no rule was tuned on, says whether it generalizes. The
online runs stop at their first confirmed fault, so a run left healthy by the removal might have found a
fault later: *sole* is an upper bound on what the rule's absence costs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from benchmarks.capture import load
from benchmarks.report import GROUP_TITLES, group_of, markdown_table
from benchmarks.scoring import RunResult
from deeplocalize.diagnosis import Diagnosis, Finding
from deeplocalize.severity import any_fault, resolve
from deeplocalize.vocabulary import Severity


def base_findings(diagnosis: Diagnosis) -> list[Finding]:
    """The findings with the severity their detector gave them (a warning made a fault by a failure it
    explains is a warning again; ``severity.resolve`` redoes that)."""
    return [dataclasses.replace(f, severity=Severity.WARNING, explains=()) if f.explains else f
            for f in diagnosis.findings]


def rule_of(finding: Finding) -> str:
    """The rule a finding comes from: its symptom, and the detector's own rule name if it gives one."""
    rule = finding.evidence.get("rule")
    return f"{finding.symptom} ({rule})" if isinstance(rule, str) else str(finding.symptom)


def fault_rules(findings: list[Finding]) -> set[str]:
    """The rules of the run's faults, after escalation."""
    return {rule_of(f) for f in resolve(findings) if f.severity == Severity.FAULT}


@dataclasses.dataclass
class Tally:
    fires: Counter = dataclasses.field(default_factory=Counter)
    sole: Counter = dataclasses.field(default_factory=Counter)
    false_alarms: Counter = dataclasses.field(default_factory=Counter)
    detected: int = 0
    buggy: int = 0


def tally(runs: list[dict], traces: list[Path]) -> dict[str, Tally]:
    """Per group, what each rule contributes (see the module docstring); runs without a capture in any of
    ``traces`` are skipped."""
    out: dict[str, Tally] = {}
    for run in runs:
        name = f"{run['case_id']}.{run['variant']}.online.s0.pkl"
        path = next((d / name for d in traces if (d / name).exists()), None)
        if path is None:
            continue
        online = load(path).online
        if online is None:
            continue
        counts = out.setdefault(group_of(RunResult.from_dict(run)), Tally())
        diagnosis = Diagnosis.from_dict(online)
        models = [base_findings(part) for part in diagnosis.models or [diagnosis]]  # (a run of several)
        rules = set().union(*(fault_rules(findings) for findings in models))
        if run["variant"] != "buggy":
            counts.false_alarms.update(rules)
            continue
        counts.buggy += 1
        counts.detected += bool(rules)
        counts.fires.update(rules)
        for rule in rules:
            if not any(any_fault([f for f in findings if rule_of(f) != rule]) for findings in models):
                counts.sole[rule] += 1
    return out


def render(tallies: dict[str, Tally]) -> str:
    groups = [g for g in GROUP_TITLES if g in tallies]
    rules = sorted({r for t in tallies.values() for r in (*t.fires, *t.false_alarms)})
    header = ["rule", *[f"{g}: fires / sole" for g in groups], "false alarms"]
    rows = [[rule, *[f"{tallies[g].fires[rule]} / {tallies[g].sole[rule]}" for g in groups],
             str(sum(t.false_alarms[rule] for t in tallies.values()))] for rule in rules]
    detection = "; ".join(f"{g}: {tallies[g].detected}/{tallies[g].buggy} buggy runs faulty" for g in groups)
    return f"{detection}.\n\n{markdown_table(header, rows)}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ablation", description=__doc__.split("\n")[0])
    parser.add_argument("--traces", type=Path, action="append", required=True,
                        help="a bench run's --traces directory (repeat for several)")
    parser.add_argument("results", type=Path, nargs="+", help="the results files of those runs")
    args = parser.parse_args(argv)
    runs = [run for path in args.results for run in json.loads(path.read_text(encoding="utf-8"))["runs"]]
    tallies = tally(runs, args.traces)
    if not tallies:
        print("ablation: no capture of the listed runs in the traces given", file=sys.stderr)
        return 2
    print(render(tallies))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
