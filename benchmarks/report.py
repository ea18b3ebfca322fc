"""Rendering the benchmark: the summary table, the per-case table (markdown and rich), docs/benchmark.md."""

from __future__ import annotations

import datetime as _dt
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.replay import Answer
from benchmarks.scoring import Rate, RunResult, ToolScore, scored

SHORT = {"activation": "act", "loss": "loss", "learning_rate": "lr", "optimizer": "opt",
         "initialization": "init", "data": "data", "architecture": "arch", "training": "train"}
COLUMNS = ("tool", "detect", "rc@1", "rc@3", "layer@1", "FA fixed", "FA healthy", "median steps",
           "median s")


def _rate(rate: Rate) -> str:
    if not rate.total:
        return "—"
    return f"{100 * rate.hits / rate.total:.0f}% ({rate.hits}/{rate.total})"


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def summary_rows(scores: dict[str, ToolScore], tools: dict[str, Any] | None = None) -> list[list[str]]:
    """One row per tool; a tool that never names a cause / a layer (``Tool.names_cause`` /
    ``names_layer``) shows n/a there, not 0%; a tool that applies to none of the runs is left out."""
    rows = []
    for tool, s in scores.items():
        meta = (tools or {}).get(tool)
        if not any(r.total for r in (s.detection, s.fa_fixed, s.fa_healthy)):
            continue
        cause = meta is None or getattr(meta, "names_cause", True)
        layer = meta is None or getattr(meta, "names_layer", True)
        rows.append([tool, _rate(s.detection), _rate(s.rc1) if cause else "n/a",
                     _rate(s.rc3) if cause else "n/a", _rate(s.layer1) if layer else "n/a",
                     _rate(s.fa_fixed), _rate(s.fa_healthy), _num(s.median_steps, 0),
                     _num(s.median_seconds, 2)])
    return rows


def _cell(answer: Answer | None, run: RunResult | None = None) -> str:
    if answer is None or not answer.applicable:
        return "n/a"
    warned = run is not None and run.variant == "buggy" and not answer.detected
    if warned:
        answer = scored(answer, run)
    if not answer.detected:
        return "—"
    cats = answer.categories[:1]
    parts = [f"@{answer.step}" if answer.step is not None else "@?",
             SHORT.get(cats[0], cats[0]) if cats else "-", answer.layer or "-"]
    return " ".join(parts) + (" (warning)" if warned else "")


def case_rows(results: list[RunResult], tools: list[str]) -> tuple[list[str], list[list[str]]]:
    tools = [t for t in tools if any(r.answers.get(t) is not None and r.answers[t].applicable
                                     for r in results)]
    header = ["case", "fw", "variant", "truth", "steps", "note", *tools]
    rows = []
    for run in results:
        truth = "—" if run.kind == "healthy" or run.variant == "fixed" else (
            "/".join(SHORT.get(c, c) for c in run.categories) + f" {run.layer or '-'}")
        note = (run.error or "")[:40] if run.error else ("" if run.captured else "not captured")
        rows.append([run.case_id, run.framework, run.variant, truth, str(run.steps), note,
                     *[_cell(run.answers.get(t), run) for t in tools]])
    return header, rows


def markdown_table(header: list[str] | tuple[str, ...], rows: list[list[str]]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def print_tables(scores: dict[str, ToolScore], results: list[RunResult], tools: list[str],
                 details: bool = False, meta: dict[str, Any] | None = None) -> None:
    """The summary table on stdout (rich when available), and the per-case table if asked."""
    rows = summary_rows(scores, meta)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(markdown_table(COLUMNS, rows))
        if details:
            print(markdown_table(*case_rows(results, tools)))
        return
    console = Console(width=None if Console().is_terminal else 140)
    table = Table(title="deeplocalize bench")
    for name in COLUMNS:
        table.add_column(name, justify="left" if name == "tool" else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if details:  # too wide for a rich table: plain markdown
        print(markdown_table(*case_rows(results, tools)))


def machine() -> str:
    """A one-line description of this machine."""
    cpu = platform.processor() or platform.machine()
    return (f"{platform.system()} {platform.release()} ({platform.machine()}), {cpu}, "
            f"{os.cpu_count()} CPU cores, Python {platform.python_version()}")


def versions() -> dict[str, str]:
    out = {}
    for name in ("torch", "keras", "numpy"):
        try:
            module = __import__(name)
            out[name] = str(getattr(module, "__version__", "?"))
        except Exception:
            out[name] = "not available"
    return out


def now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


ANALYSIS_HEADING = "## What would move the weakest column"


def _previous_analysis(path: Path) -> str:
    """The hand-written analysis of the existing document, carried over (it quotes the numbers it was
    written for, so a reader sees when it is older than the tables above); a stub when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    if ANALYSIS_HEADING in text:
        return text.split(ANALYSIS_HEADING, 1)[1].strip()
    return "_Not written yet: analyse the table above._"


GROUP_TITLES = {
    "test": "Real-world programs, test half (held out: tuning uses the calibration half only)",
    "calibration": "Real-world programs, calibration half (may be tuned on)",
    "zoo": "The bug zoo and the healthy suite (written with the detectors: an upper bound)",
    "transformer": "The transformer zoo: nanoGPT-style character models in fp32, bf16 and fp16",
}
_LEGEND = (
    "detect: buggy variants flagged faulty. rc@1 / rc@3: a valid root-cause category ranked first / in"
    " the top 3 (undetected = miss; n/a: the tool never names a cause). layer@1: the first layer named is"
    " the faulty one (cases with a faulty layer; n/a: the tool never names a layer). FA: fixed twins /"
    " healthy programs flagged faulty. Medians over detected buggy variants; seconds from program start."
    " A bug a run survives looking healthy (one corrupt batch; cells marked \"(warning)\") is detected by a"
    " warning of its expected symptom: its step, layer and causes are scored."
)


def group_of(result: RunResult) -> str:
    """The group a run is reported in: its half for a real-world program, else its suite."""
    return (result.half if result.suite == "real" else result.suite) or "zoo"


def _by_group(payloads: list[dict[str, Any]]) -> dict[str, list[tuple[dict[str, Any], list[RunResult]]]]:
    """Per group, every payload that has runs in it with those runs, newest payload first."""
    out: dict[str, list[tuple[dict[str, Any], list[RunResult]]]] = {}
    for payload in sorted(payloads, key=lambda p: p["date"], reverse=True):
        rows: dict[str, list[RunResult]] = {}
        for raw in payload["runs"]:
            result = RunResult.from_dict(raw)
            rows.setdefault(group_of(result), []).append(result)
        for group, runs in rows.items():
            out.setdefault(group, []).append((payload, runs))
    return out


def _answered(tool: str, runs: list[RunResult]) -> bool:
    """The tool was run on some of ``runs`` (a ``--no-baselines`` run marks the baselines not applicable)."""
    return any(r.answers.get(tool) is not None and r.answers[tool].applicable for r in runs)


@dataclass
class _GroupTables:
    """One group's tables: the summary rows, the runs and tools of its per-case table, its count line."""

    summary: list[list[str]]
    runs: list[RunResult]
    tools: list[str]
    count: str


def _group_tables(group: str, runs_of: list[tuple[dict[str, Any], list[RunResult]]], tools: dict[str, Any],
                  used: dict[int, set[str]]) -> _GroupTables:
    """The newest run's tables, with rows for the tools it left out from older runs (``used``: which
    payloads were read, for which groups)."""
    from benchmarks.scoring import score

    newest, rows = runs_of[0]
    names = [t for t in tools if _answered(t, rows)]
    summary = summary_rows(score(rows, names), tools)
    used.setdefault(id(newest), set()).add(group)
    shown = list(names)
    for older, older_rows in runs_of[1:]:
        missing = [t for t in tools if t not in shown and _answered(t, older_rows)]
        if not missing:
            continue
        shown += missing
        used.setdefault(id(older), set()).add(f"{group} (baselines)")
        bugs = len({r.case_id for r in older_rows if r.kind == "bug"})
        for row in summary_rows(score(older_rows, missing), tools):
            row[0] = f"{row[0]} (run of {older['date']}, {bugs} bug cases)"
            summary.append(row)
    n_bug = len({r.case_id for r in rows if r.kind == "bug"})
    n_healthy = sum(1 for r in rows if r.kind == "healthy")
    return _GroupTables(summary, rows, names, f"{n_bug} bug cases (buggy + fixed twin), {n_healthy} healthy"
                        f" programs (run of {newest['date']}).")


def write_docs(path: Path, payloads: list[dict[str, Any]], tools: dict[str, Any]) -> Path:
    """docs/benchmark.md from the results files (``benchmarks/results/``). Each group's tables come from
    the newest run of that group; a tool that run left out (a ``--no-baselines`` run leaves out the
    baselines) is shown from the newest older run that has it, its row labelled with that run's date and
    program count, since the programs may differ."""
    lines = [
        "# Benchmark: real-world programs, the bug zoo, and the baselines",
        "",
        "Generated by `deeplocalize bench` from the newest results of each group (rerun the commands below;"
        " `--docs-only` rewrites this file from the stored results); only the last section is written by"
        " hand, and a rerun keeps it.",
        "",
    ]
    by_group = _by_group(payloads)
    used: dict[int, set[str]] = {}
    tables = {group: _group_tables(group, by_group[group], tools, used) for group in GROUP_TITLES
              if by_group.get(group)}
    for payload in sorted(payloads, key=lambda p: p["date"]):
        groups = used.get(id(payload))
        if not groups:
            continue
        vers = ", ".join(f"{k} {v}" for k, v in payload["versions"].items())
        shown = ", ".join(g for name in GROUP_TITLES for g in (name, f"{name} (baselines)") if g in groups)
        lines.append(f"- {shown}: `{payload['command']}` on {payload['date']}, {payload['machine']} ({vers}),"
                     f" seed {payload['seed']}, {payload['wall_s'] / 60:.1f} min")
    lines.append("")
    for group, table in tables.items():
        lines += [f"## {GROUP_TITLES[group]}", "", table.count, "",
                  markdown_table(COLUMNS, table.summary), ""]
    lines += [_LEGEND, "", "## Tools", "",
              *[f"- **{name}**: {getattr(tool, 'description', '')}" for name, tool in tools.items()], ""]
    for group, table in tables.items():
        lines += [f"## Per case: {group}", "",
                  "Cell: `@step category layer` of the tool's first alarm (`—`: no alarm; `n/a`: not"
                  " applicable). Categories: " + ", ".join(f"{v} = {k}" for k, v in SHORT.items()) + ".",
                  "", markdown_table(*case_rows(table.runs, table.tools)), ""]
    lines += [ANALYSIS_HEADING, "", _previous_analysis(path), ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
