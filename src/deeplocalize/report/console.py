"""The diagnosis for a person at a terminal: verdict, the fix, then the evidence.

``render_text`` is the plain-text form (``str(diagnosis)``); ``print_diagnosis`` prints it, in colour through
``rich`` when it is installed and the stream is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from deeplocalize.diagnosis import Diagnosis, Finding
from deeplocalize.model import LayerRef
from deeplocalize.vocabulary import Verdict

MAX_EVIDENCE = 8  # findings listed before "... and N more"
_STYLE = {Verdict.FAULTY: "bold red", Verdict.HEALTHY: "bold green", Verdict.INCONCLUSIVE: "bold yellow"}


def layer_text(layer: LayerRef | None) -> str:
    """``layer 2 `fc2` (Linear)``, or ``no single layer`` for the loss, optimizer or data."""
    if layer is None:
        return "no single layer"
    return f"layer {layer.index} `{layer.name}` ({layer.type})"


def headline(diagnosis: Diagnosis) -> str:
    """One line: the verdict and where the first fault is."""
    verdict = str(diagnosis.verdict).upper()
    steps = f"{diagnosis.steps_observed} step{'s' if diagnosis.steps_observed != 1 else ''}"
    faults = diagnosis.faults
    if diagnosis.verdict == Verdict.FAULTY and faults:
        first = faults[0]
        where = "" if first.layer is None else f" in {layer_text(first.layer)}"
        rank = "" if first.rank is None else f" on rank {first.rank} of {diagnosis.world_size}"
        return (f"{verdict}: {first.symptom.replace('_', ' ')}{where}, {first.phase} phase, "
                f"step {first.step}{rank} ({steps} observed)")
    warned = len(diagnosis.warnings)
    note = f" ({warned} warning{'s' if warned != 1 else ''})" if warned else ""
    if diagnosis.verdict == Verdict.HEALTHY:
        return f"{verdict}: no fault found in {steps} across {len(diagnosis.layers)} layers{note}"
    if diagnosis.verdict == Verdict.INCONCLUSIVE and not diagnosis.steps_observed:
        return (f"{verdict}: no training step was observed (deeplocalize watches a torch.nn.Module, a "
                "Keras model, or the tensors a torch loss.backward() trains; a TensorFlow GradientTape "
                "loop is not watched, nor training in worker processes unless each calls dl.watch)")
    if diagnosis.verdict == Verdict.INCONCLUSIVE:
        return f"{verdict}: {steps} observed, too few to judge the training{note}"
    return f"{verdict} ({steps} observed)"


def _finding_line(finding: Finding) -> str:
    where = "-" if finding.layer is None else f"{finding.layer.index}:{finding.layer.name}"
    rank = "" if finding.rank is None else f"[rank {finding.rank}] "
    return (f"  step {finding.step:>6}  {finding.phase:<8} {where:<18} {finding.symptom:<24} "
            f"{rank}{finding.message}")


def _warning_lines(finding: Finding) -> list[str]:
    lines = [_finding_line(finding)]
    advice = finding.evidence.get("advice")
    if advice:
        lines.append(f"{'':>40}-> {advice}")
    return lines


def _listed(findings: list[Finding], render: Callable[[Finding], list[str]]) -> list[tuple[str, str | None]]:
    """Up to ``MAX_EVIDENCE`` findings rendered, then how many more there are."""
    out: list[tuple[str, str | None]] = []
    for finding in findings[:MAX_EVIDENCE]:
        out.extend((line, None) for line in render(finding))
    if len(findings) > MAX_EVIDENCE:
        out.append((f"  ... and {len(findings) - MAX_EVIDENCE} more (see --json or --html)", "dim"))
    return out


def render_lines(diagnosis: Diagnosis) -> list[tuple[str, str | None]]:
    """The report as (text, rich style or None) lines; both renderers print these. A run of several models
    shows the run's verdict (its worst model's), then one block per model."""
    lines: list[tuple[str, str | None]]
    if len(diagnosis.models) > 1:
        faulty = sum(part.verdict == Verdict.FAULTY for part in diagnosis.models)
        lines = [(f"deeplocalize: {str(diagnosis.verdict).upper()}: {len(diagnosis.models)} models trained, "
                  f"{faulty} faulty", _STYLE.get(diagnosis.verdict))]
        for part in diagnosis.models:
            lines.append((f"Model `{part.model or '?'}`: {headline(part)}", _STYLE.get(part.verdict)))
            lines.extend(_model_lines(part))
    else:
        lines = [(f"deeplocalize: {headline(diagnosis)}", _STYLE.get(diagnosis.verdict))]
        lines.extend(_model_lines(diagnosis))
    if diagnosis.stopped_early:
        lines.append(("Training was stopped early.", "dim"))
    if diagnosis.tool_errors:
        lines.append((f"Tool errors (training was not affected): {len(diagnosis.tool_errors)}", "yellow"))
        lines.extend((f"  {err}", "yellow") for err in diagnosis.tool_errors[:3])
    return lines


def _model_lines(diagnosis: Diagnosis) -> list[tuple[str, str | None]]:
    """The fix, the ranked causes, the evidence and the warnings of one model's diagnosis."""
    lines: list[tuple[str, str | None]] = []
    causes = diagnosis.root_causes
    if causes:
        top = causes[0]
        lines.append((f"Fix: {top.fix}", "bold"))
        lines.append((f"     cause: {top.category} (confidence {top.confidence:.2f}), "
                      f"{layer_text(top.layer)}", "dim"))
        for rank, cause in enumerate(causes[1:3], start=2):
            lines.append((f"  {rank}. {cause.category} ({cause.confidence:.2f}): {cause.fix}", None))
    faults, warnings = diagnosis.faults, diagnosis.warnings
    if faults:
        lines.append((f"Evidence ({len(faults)} finding{'s' if len(faults) != 1 else ''}, earliest first):",
                      "bold"))
        lines.extend(_listed(faults, lambda f: [_finding_line(f)]))
    if warnings:
        lines.append((f"Warnings ({len(warnings)}, risks that did not make this run fail):", "bold yellow"))
        lines.extend(_listed(warnings, _warning_lines))
    return lines


def render_text(diagnosis: Diagnosis) -> str:
    """The plain-text report (no colour, no trailing newline)."""
    return "\n".join(text for text, _ in render_lines(diagnosis))


def print_diagnosis(diagnosis: Diagnosis, file: TextIO | None = None, color: bool | None = None) -> None:
    """Print the report; in colour (rich) when ``color`` is True, or None and ``file`` is a terminal."""
    stream = sys.stdout if file is None else file
    if color is None:
        color = bool(getattr(stream, "isatty", lambda: False)())
    if color:
        try:
            from rich.console import Console
            from rich.text import Text
        except ImportError:
            color = False
        else:
            console = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=True)
            for text, style in render_lines(diagnosis):
                console.print(Text(text, style=style or ""))
            return
    print(render_text(diagnosis), file=stream)
