"""The self-contained HTML report: one file, no network, no JavaScript needed.

Order of the page: the verdict and the fixes; the findings; a timeline of the loss and metrics with the
first finding marked; then one row per layer (forward / backward / weights / update small multiples, the
layer's facts and its findings), the faulty layers highlighted and runs of layers without findings
collapsed, so a 100-layer model reads at a glance. Without a trace the page shows the diagnosis only.
Charts are inline SVG (``report/svg.py``); the diagnosis JSON is embedded for machines.
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from deeplocalize.atomic_io import write_atomic
from deeplocalize.diagnosis import Diagnosis, Finding
from deeplocalize.model import LayerInfo, ModelInfo
from deeplocalize.report import svg
from deeplocalize.report._data import (
    RunSeries,
    agg_any,
    agg_max,
    agg_mean,
    agg_min,
    agg_x,
    buckets,
    collect,
    layer_list,
    nan_tail,
)
from deeplocalize.report.html_layers import finding_marks, layer_link, layers_section
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Severity, Verdict

#: At most this many points per timeline chart (buckets keep min/max).
TIMELINE_POINTS = 500


def write_html(diagnosis: Diagnosis, path: str | Path, trace: Trace | None = None,
               model: ModelInfo | None = None) -> Path:
    """Write the report for ``diagnosis`` to ``path`` (plots need ``trace``) and return the path.

    Atomic: rendered first, then written to a temporary file and renamed (never a partial file).
    """
    return write_atomic(path, render_html(diagnosis, trace=trace, model=model))


def render_html(diagnosis: Diagnosis, trace: Trace | None = None, model: ModelInfo | None = None) -> str:
    """The report as one HTML string."""
    series = collect(trace) if trace is not None and trace.steps_observed else None
    layers = layer_list(diagnosis, model, trace)
    by_layer: dict[int, list[int]] = {}
    for i, finding in enumerate(diagnosis.findings):
        if finding.layer is not None:
            by_layer.setdefault(finding.layer.index, []).append(i)
    culprit = next((c.layer.index for c in diagnosis.root_causes if c.layer is not None), None)

    body = [
        _header(diagnosis, layers),
        _models(diagnosis),
        _causes(diagnosis),
        _findings(diagnosis),
        _timeline(diagnosis, series),
        layers_section(diagnosis, layers, by_layer, culprit, series),
        _setup(model),
        _tool_errors(diagnosis),
        _footer(diagnosis),
    ]
    title = f"deeplocalize · {diagnosis.verdict}"
    if diagnosis.faults and diagnosis.faults[0].layer is not None:
        title += f" · {diagnosis.faults[0].layer.name}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<link rel=\"icon\" href=\"data:,\"><title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


# ---------------------------------------------------------------------------------------------- sections
def _header(diagnosis: Diagnosis, layers: list[LayerInfo]) -> str:
    verdict = str(diagnosis.verdict)
    facts = [
        f"{escape(diagnosis.framework)}",
        f"{diagnosis.steps_observed} steps observed",
        f"{len(layers)} layers",
        f"{len(diagnosis.findings)} finding{'s' if len(diagnosis.findings) != 1 else ''}",
    ]
    if diagnosis.stopped_early:
        facts.append("training stopped early by deeplocalize")
    if diagnosis.verdict == Verdict.FAULTY and diagnosis.faults:
        first = diagnosis.faults[0]
        where = f" in {layer_link(first.layer)}" if first.layer is not None else ""
        headline = (f"{escape(str(first.symptom))} ({escape(str(first.phase))}){where}, "
                    f"first at step {first.step}")
    elif diagnosis.verdict == Verdict.HEALTHY:
        headline = "no fault found"
    elif diagnosis.verdict == Verdict.INCONCLUSIVE:
        headline = "not enough evidence for a verdict"
    else:
        headline = ""
    return (
        f'<header class="verdict v-{escape(verdict)}"><div class="brand">deeplocalize report</div>'
        f'<h1><span class="badge">{escape(verdict.upper())}</span> {headline}</h1>'
        f'<p class="facts">{" · ".join(facts)}</p></header>'
    )


def _models(diagnosis: Diagnosis) -> str:
    """A run of several models: each model's verdict, steps, first fault and fix. The sections below are
    the worst model's (the one named in the header's first fault)."""
    if len(diagnosis.models) <= 1:
        return ""
    rows = []
    for part in diagnosis.models:
        first = part.faults[0] if part.faults else None
        fault = ("" if first is None else f"{escape(str(first.symptom))} ({escape(str(first.phase))})"
                 + ("" if first.layer is None else f" in <code>{escape(first.layer.name)}</code>")
                 + f", step {first.step}")
        fix = escape(part.root_causes[0].fix) if part.root_causes else ""
        rows.append(f'<tr><td><code>{escape(part.model or "?")}</code></td>'
                    f'<td class="v-{escape(str(part.verdict))}">{escape(str(part.verdict))}</td>'
                    f"<td>{part.steps_observed}</td><td>{fault}</td><td>{fix}</td></tr>")
    return ('<section id="models"><h2>Models in this run</h2><p class="muted">Each model trained has its own '
            "diagnosis; the sections below show the worst one's.</p><table><thead><tr><th>model</th>"
            "<th>verdict</th><th>steps</th><th>first fault</th><th>fix</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></section>")


def _causes(diagnosis: Diagnosis) -> str:
    if not diagnosis.root_causes:
        if diagnosis.findings:
            return ('<section id="fixes"><h2>What to change</h2><p class="muted">No root cause was ranked; '
                    "see the findings below.</p></section>")
        return ""
    items = []
    for rank, cause in enumerate(diagnosis.root_causes, 1):
        pct = max(0.0, min(1.0, float(cause.confidence))) * 100
        where = f" · {layer_link(cause.layer)}" if cause.layer is not None else ""
        refs = " ".join(f'<a href="#finding-{i}">#{i}</a>' for i in cause.findings)
        items.append(
            f'<li class="cause{" top" if rank == 1 else ""}"><div class="fix">{escape(cause.fix)}</div>'
            f'<div class="meta"><span class="cat">{escape(str(cause.category))}</span>{where}'
            f' · confidence <span class="conf"><span style="width:{pct:.0f}%"></span></span> {pct:.0f}%'
            f'{" · findings " + refs if refs else ""}</div></li>'
        )
    return f'<section id="fixes"><h2>What to change</h2><ol class="causes">{"".join(items)}</ol></section>'


def _findings(diagnosis: Diagnosis) -> str:
    """The faults, then (apart) the warnings: risks that did not make the run fail."""
    faults = [(i, f) for i, f in enumerate(diagnosis.findings) if f.effective_severity == Severity.FAULT]
    warnings = [(i, f) for i, f in enumerate(diagnosis.findings) if f.effective_severity != Severity.FAULT]
    out = _finding_table("findings", "Findings", faults) if faults else ""
    if warnings:
        out += _finding_table("warnings", "Warnings <small class=\"muted\">risks that did not make this run "
                              "fail</small>", warnings)
    return out


def _rank_tag(finding: Finding) -> str:
    """``[rank r]`` before the message of a finding of a distributed job."""
    return "" if finding.rank is None else f'<span class="muted">[rank {finding.rank}]</span> '


def _finding_table(section: str, title: str, findings: list[tuple[int, Finding]]) -> str:
    rows = []
    for i, f in findings:
        evidence = ""
        if f.evidence:
            text = json.dumps(_plain(f.evidence), indent=1, sort_keys=True, default=str)
            evidence = f"<details><summary>evidence</summary><pre>{escape(text)}</pre></details>"
        layer = layer_link(f.layer) if f.layer is not None else '<span class="muted">—</span>'
        advice = f.evidence.get("advice")
        advice = f'<div class="advice">→ {escape(str(advice))}</div>' if advice else ""
        rows.append(
            f'<tr id="finding-{i}"><td class="num">#{i}</td><td class="num">{f.step}</td>'
            f'<td><span class="sym">{escape(str(f.symptom))}</span></td><td>{escape(str(f.phase))}</td>'
            f"<td>{layer}</td><td>{_rank_tag(f)}{escape(f.message)}{advice}{evidence}</td></tr>"
        )
    return (
        f'<section id="{section}"><h2>{title}</h2><table class="findings"><thead><tr><th></th><th>step</th>'
        "<th>symptom</th><th>phase</th><th>layer</th><th>what was seen</th></tr></thead>"
        f'<tbody>{"".join(rows)}</tbody></table></section>'
    )


def _timeline(diagnosis: Diagnosis, series: RunSeries | None) -> str:
    head = '<section id="timeline"><h2>Timeline</h2>'
    if series is None or len(series) == 0:
        return head + ('<p class="muted">No trace was given: plots are unavailable (diagnosis only).</p>'
                       "</section>")
    marks = finding_marks(diagnosis.findings, None, axes=True)
    groups = buckets(len(series), TIMELINE_POINTS)
    x = agg_x(series.steps, groups)
    xlim = (float(series.steps.min()), float(series.steps.max()))
    charts: list[str] = []
    named = [("loss", series.loss), *series.metrics.items()]
    finite_lr = series.lr[np.isfinite(series.lr)]
    if finite_lr.size and np.ptp(finite_lr) > 0:
        named.append(("learning rate", series.lr))
    for name, values in named:
        if not np.any(~np.isnan(values)):
            continue
        xs, vals, grp = x, values, groups
        if name == "loss":
            bad_full = np.isinf(values) | nan_tail(values)
        else:  # metrics may arrive sparsely (validation per epoch): join the points that exist
            keep = ~np.isnan(values)
            vals = values[keep]
            grp = buckets(len(vals), TIMELINE_POINTS)
            xs = agg_x(series.steps[keep], grp)
            bad_full = np.isinf(vals)
        bad = agg_any(bad_full, grp)
        lines = [svg.Line(agg_mean(vals, grp), "l0")]
        bands = []
        if len(grp) < len(vals):
            bands.append(svg.Band(agg_min(vals, grp), agg_max(vals, grp), "b0"))
        positive = vals[np.isfinite(vals)]
        log = bool(positive.size and positive.min() > 0 and positive.max() / positive.min() > 1e3)
        chart = svg.chart(xs, lines=lines, bands=bands, width=860, height=150, axes=True, log=log, bad=bad,
                          vlines=marks, title=f"{name} over steps", xlim=xlim)
        last = vals[np.isfinite(vals)]
        note = f"last {svg.fmt(float(last[-1]))}" if last.size else "never finite"
        if bad_full.any():
            steps = series.steps if name == "loss" else series.steps[~np.isnan(values)]
            note += f" · non-finite from step {int(steps[np.argmax(bad_full)])}"
        charts.append(f'<figure class="timeline"><figcaption><b>{escape(name)}</b>'
                      f'{" (log scale)" if log else ""} <span class="muted">{note}</span></figcaption>'
                      f"{chart}</figure>")
    if not charts:
        charts.append('<p class="muted">No loss or metric was recorded.</p>')
    return head + "".join(charts) + "</section>"


def _setup(model: ModelInfo | None) -> str:
    if model is None:
        return ""
    rows: list[tuple[str, str]] = []
    if model.task:
        rows.append(("task", model.task))
    if model.loss is not None:
        loss = model.loss
        rows.append(("loss", f"{loss.framework_name or loss.name} (expects {loss.expects})"))
    if model.optimizer is not None:
        opt = model.optimizer
        hp = [f"{k} {svg.fmt(v)}" for k, v in (("lr", opt.lr), ("momentum", opt.momentum),
                                               ("weight decay", opt.weight_decay)) if v is not None]
        rows.append(("optimizer", opt.name + (f" ({', '.join(hp)})" if hp else "")))
    if model.batch_size:
        rows.append(("batch size", str(model.batch_size)))
    data = model.data
    if data is not None:
        if data.x_shape is not None:
            rows.append(("input batch", f"shape {tuple(data.x_shape)}, range [{svg.fmt(data.x_min)}, "
                                        f"{svg.fmt(data.x_max)}], mean {svg.fmt(data.x_mean)}, "
                                        f"std {svg.fmt(data.x_std)}"))
        if data.y_shape is not None:
            extra = f", {data.n_classes} classes" if data.n_classes else ""
            rows.append(("targets", f"shape {tuple(data.y_shape)}, range [{svg.fmt(data.y_min)}, "
                                    f"{svg.fmt(data.y_max)}]{extra}"))
    if not rows:
        return ""
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<section id="setup"><h2>Training set-up</h2><table class="kv">{body}</table></section>'


def _tool_errors(diagnosis: Diagnosis) -> str:
    if not diagnosis.tool_errors:
        return ""
    items = "".join(f"<li><code>{escape(e)}</code></li>" for e in diagnosis.tool_errors)
    return (f'<section id="tool-errors"><h2>Tool errors</h2><p class="muted">Internal errors of deeplocalize '
            f"(training was not affected; the diagnosis may be incomplete).</p><ul>{items}</ul></section>")


def _footer(diagnosis: Diagnosis) -> str:
    from deeplocalize import __version__

    data = json.dumps(diagnosis.to_dict(), allow_nan=False).replace("</", "<\\/")
    return (f'<footer>deeplocalize {escape(__version__)} · schema deeplocalize.diagnosis/1 · the diagnosis '
            f'JSON is embedded in this file (<code>#deeplocalize-diagnosis</code>)</footer>'
            f'<script type="application/json" id="deeplocalize-diagnosis">{data}</script>')


# ---------------------------------------------------------------------------------------------- helpers
def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return _plain(value.item())
        except (TypeError, ValueError):
            return str(value)
    return value


_CSS = """
:root{--fg:#1d2330;--muted:#6b7280;--line:#e5e7eb;--bg:#fff;--soft:#f7f8fa;--bad:#c62828;--ok:#2e7d32;
--warn:#a15c00;--accent:#1f5fbf}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--fg);background:var(--bg)}
main{max-width:1400px;margin:0 auto;padding:0 20px 40px}
h1{font-size:22px;margin:4px 0 6px;font-weight:600}
h2{font-size:17px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
a{color:var(--accent);text-decoration:none} a:hover{text-decoration:underline}
.muted{color:var(--muted)} .small,small{font-size:12px}
header.verdict{margin:0 -20px;padding:18px 20px 14px;border-bottom:4px solid var(--muted);
background:var(--soft)}
.v-faulty{border-color:var(--bad)!important;background:#fdf2f2!important}
.v-healthy{border-color:var(--ok)!important;background:#f1f8f2!important}
.v-inconclusive{border-color:var(--warn)!important;background:#fdf7ec!important}
.brand{font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:var(--muted)}
.badge{display:inline-block;padding:1px 9px;border-radius:4px;color:#fff;font-size:15px;vertical-align:2px;
background:var(--muted)}
.v-faulty .badge{background:var(--bad)} .v-healthy .badge{background:var(--ok)}
.v-inconclusive .badge{background:var(--warn)}
.facts{margin:0;color:var(--muted)}
ol.causes{padding-left:22px;margin:0} li.cause{margin:0 0 10px}
li.cause .fix{font-size:15px} li.cause.top .fix{font-size:17px;font-weight:600}
li.cause .meta{color:var(--muted);font-size:12.5px}
.cat{display:inline-block;padding:0 6px;border-radius:3px;background:#eef2f9;color:var(--accent)}
.conf{display:inline-block;width:60px;height:7px;background:var(--line);border-radius:4px;vertical-align:1px}
.conf span{display:block;height:100%;background:var(--accent);border-radius:4px}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:5px 8px;vertical-align:top}
table.findings tr{border-bottom:1px solid var(--line)} table.findings th{font-weight:600;font-size:12.5px}
td.num,div.num{text-align:right;font-variant-numeric:tabular-nums}
.sym{font-weight:600;color:var(--bad)}
details>summary{cursor:pointer}
pre{background:var(--soft);padding:6px;font-size:12px;overflow:auto;margin:4px 0}
table.kv th{width:10em;color:var(--muted);font-weight:500}
figure.timeline{margin:0 0 10px} figcaption{font-size:13px;margin-bottom:2px}
.lgrid{overflow-x:auto}
.row{display:grid;grid-template-columns:var(--cols);gap:0 10px;align-items:center;padding:4px 6px;
border-bottom:1px solid var(--line)}
.row.head{font-weight:600;font-size:12.5px;color:var(--muted);position:sticky;top:0;background:var(--bg);z-index:1}
.row.fault{background:#fdf2f2;box-shadow:inset 4px 0 0 #ef9a9a}
.row.culprit{background:#fbe3e3;box-shadow:inset 5px 0 0 var(--bad)}
.row small{display:block;color:var(--muted)}
.lname code{font-weight:600;word-break:break-all}
.tag{margin-left:6px;padding:0 5px;border-radius:3px;background:var(--bad);color:#fff;font-size:11px}
.fcell{display:flex;flex-wrap:wrap;gap:3px}
.fbadge{font-size:11.5px;padding:1px 6px;border-radius:3px;background:#fff;border:1px solid #ef9a9a;
color:var(--bad)}
details.fold{border-bottom:1px solid var(--line)}
details.fold>summary{padding:5px 6px;color:var(--muted);font-size:12.5px;background:var(--soft)}
.legend{font-size:12px;color:var(--muted);margin:0 0 6px}
.badkey{color:var(--bad)} .badtext{color:var(--bad);font-weight:600}
svg.chart{display:block;overflow:visible}
svg .frame{fill:#fff;stroke:var(--line)}
svg .grid{stroke:#f0f1f3}
svg polyline{fill:none;stroke-width:1.4;stroke-linejoin:round}
svg .l0{stroke:var(--accent)} svg .l1{stroke:#7b5ea7} svg .dash{stroke-dasharray:3 2}
svg circle.l0{fill:var(--accent)} svg circle.l1{fill:#7b5ea7}
svg .b0{fill:#1f5fbf;opacity:.10} svg .b1{fill:#1f5fbf;opacity:.22}
svg .bad{fill:var(--bad);opacity:.22}
svg .vmark{stroke:#e0a000;stroke-width:1;stroke-dasharray:2 2}
svg .vmark.first{stroke:var(--bad);stroke-width:1.5}
svg text{font:10.5px system-ui,sans-serif;fill:var(--muted)} svg text.vlabel{fill:var(--bad);font-weight:600}
svg text.empty{font-size:11px}
footer{margin-top:36px;font-size:12px;color:var(--muted)}
"""
