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
from collections.abc import Callable, Iterable
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from deeplocalize.atomic_io import write_atomic
from deeplocalize.diagnosis import Diagnosis, Finding
from deeplocalize.model import LayerInfo, LayerRef, ModelInfo
from deeplocalize.report import svg
from deeplocalize.report._data import RunSeries, collect, layer_list, nan_tail
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import Channel, Severity, Verdict

#: At most this many points per small-multiple chart, and per timeline chart (buckets keep min/max).
SPARK_POINTS = 80
TIMELINE_POINTS = 500
#: Models with at most this many layers show every row; larger ones collapse rows without findings.
SHOW_ALL_LAYERS = 16

COLUMNS = ("forward", "backward", "weights", "update")


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
        _layers(diagnosis, layers, by_layer, culprit, series),
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
        where = f" in {_layer_link(first.layer)}" if first.layer is not None else ""
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
        where = f" · {_layer_link(cause.layer)}" if cause.layer is not None else ""
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
        layer = _layer_link(f.layer) if f.layer is not None else '<span class="muted">—</span>'
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
    marks = _finding_marks(diagnosis.findings, None, axes=True)
    groups = _buckets(len(series), TIMELINE_POINTS)
    x = _agg_x(series.steps, groups)
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
            grp = _buckets(len(vals), TIMELINE_POINTS)
            xs = _agg_x(series.steps[keep], grp)
            bad_full = np.isinf(vals)
        bad = _agg_any(bad_full, grp)
        lines = [svg.Line(_agg_mean(vals, grp), "l0")]
        bands = []
        if len(grp) < len(vals):
            bands.append(svg.Band(_agg_min(vals, grp), _agg_max(vals, grp), "b0"))
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


def _layers(diagnosis: Diagnosis, layers: list[LayerInfo], by_layer: dict[int, list[int]],
            culprit: int | None, series: RunSeries | None) -> str:
    if not layers:
        return ""
    plots = series is not None and len(series) > 0
    groups = _buckets(len(series), SPARK_POINTS) if plots else []
    x = _agg_x(series.steps, groups) if plots else np.array([])
    head_cells = ["#", "layer", "params"] + (list(COLUMNS) if plots else []) + ["findings"]
    header = '<div class="row head">' + "".join(f"<div>{escape(h)}</div>" for h in head_cells) + "</div>"
    keep = _shown_layers(layers, by_layer, culprit)
    rows: list[str] = []
    hidden: list[str] = []
    hidden_range: list[int] = []

    def flush() -> None:
        if hidden:
            a, b = hidden_range[0], hidden_range[-1]
            span = f"layer {a}" if a == b else f"layers {a}–{b}"
            rows.append(f'<details class="fold"><summary>{span} · {len(hidden)} without findings'
                        f"</summary>{''.join(hidden)}</details>")
            hidden.clear()
            hidden_range.clear()

    for layer in layers:
        row = _layer_row(diagnosis, layer, by_layer.get(layer.index, []), layer.index == culprit,
                         series if plots else None, groups, x)
        if layer.index in keep:
            flush()
            rows.append(row)
        else:
            hidden.append(row)
            hidden_range.append(layer.index)
    flush()
    legend = ""
    if plots:
        legend = ('<p class="legend"><b>forward</b>: output mean (line), ±std and min–max (bands) · '
                  "<b>backward</b>: gradient norm, weights (line) and output (dashed), log scale · "
                  "<b>weights</b>: mean, ±std, min–max · <b>update</b>: ‖Δweights‖ per step, log scale · "
                  '<span class="badkey">red</span>: non-finite values · vertical line: a finding\'s step</p>')
    cols = "3.2em 13em 5em" + (" 170px" * 4 if plots else "") + " minmax(16em,1fr)"
    return (f'<section id="layers"><h2>Layers</h2>{legend}<div class="lgrid" style="--cols:{cols}">'
            f'{header}{"".join(rows)}</div></section>')


def _layer_row(diagnosis: Diagnosis, layer: LayerInfo, finding_ids: list[int], is_culprit: bool,
               series: RunSeries | None, groups: list[np.ndarray], x: np.ndarray) -> str:
    classes = ["row"]
    if finding_ids:
        classes.append("fault")
    if is_culprit:
        classes.append("culprit")
    kind = escape(layer.type) + (f" · {escape(layer.activation)}" if layer.activation else "")
    tag = '<span class="tag">root cause</span>' if is_culprit else ""
    cells = [
        f'<div class="num">{layer.index}</div>',
        f'<div class="lname"><code>{escape(layer.name)}</code>{tag}<small>{kind}</small></div>',
        f'<div class="num">{layer.params:,}</div>',
    ]
    if series is not None:
        findings = [diagnosis.findings[i] for i in finding_ids]
        marks = _finding_marks(findings, None, axes=False)
        cells.extend(f"<div>{cell}</div>" for cell in _cells(layer, series, groups, x, marks))
    badges = []
    for i in finding_ids:
        f = diagnosis.findings[i]
        badges.append(f'<a class="fbadge" href="#finding-{i}" title="{escape(f.message)}">'
                      f"{escape(str(f.symptom))} · {escape(str(f.phase))} · step {f.step}</a>")
    cells.append(f'<div class="fcell">{"".join(badges)}</div>')
    return (f'<div class="{" ".join(classes)}" id="layer-{layer.index}" data-layer="{escape(layer.name)}">'
            f'{"".join(cells)}</div>')


def _cells(layer: LayerInfo, series: RunSeries, groups: list[np.ndarray], x: np.ndarray,
           marks: list[svg.VLine]) -> list[str]:
    i = layer.index
    name = layer.name

    def nonfinite(*channels: Channel) -> np.ndarray:
        bad = np.zeros(len(series), dtype=bool)
        for ch in channels:
            count = series.stat((i, ch), "nonfinite")
            bad |= np.nan_to_num(count) > 0
        return bad

    def spread(ch: Channel, label: str) -> str:
        key = (i, ch)
        if key not in series.stats:
            return _absent(label)
        mean, std = series.stat(key, "mean"), series.stat(key, "std")
        lo, hi = series.stat(key, "min"), series.stat(key, "max")
        bad_full = nonfinite(ch)
        chart = svg.chart(
            x, lines=[svg.Line(_agg_mean(mean, groups), "l0")],
            bands=[svg.Band(_agg_min(lo, groups), _agg_max(hi, groups), "b0"),
                   svg.Band(_agg_mean(mean - std, groups), _agg_mean(mean + std, groups), "b1")],
            bad=_agg_any(bad_full, groups), vlines=marks, width=170, height=46,
            title=f"{label} of {name}: mean, ±std, min–max over steps",
        )
        caption = _caption_spread(series, key, bad_full)
        return f"{chart}<small>{caption}</small>"

    def norms(chs: Iterable[tuple[Channel, str]], label: str, caption_fn: Callable[[np.ndarray], str]) -> str:
        present = [(ch, cls) for ch, cls in chs if (i, ch) in series.stats]
        if not present:
            return _absent(label)
        lines = [svg.Line(_agg_mean(series.stat((i, ch), "norm"), groups), cls) for ch, cls in present]
        bad_full = nonfinite(*(ch for ch, _ in present))
        chart = svg.chart(x, lines=lines, log=True, bad=_agg_any(bad_full, groups), vlines=marks,
                          width=170, height=46, title=f"{label} of {name}: norm over steps (log scale)")
        return f"{chart}<small>{caption_fn(bad_full)}</small>"

    def grad_caption(bad: np.ndarray) -> str:
        if bad.any():
            return _bad_text(series, bad)
        wgrad = (i, Channel.WEIGHT_GRAD)
        key = wgrad if wgrad in series.stats else (i, Channel.OUTPUT_GRAD)
        return f"‖∇‖ {svg.fmt(_last(series.stat(key, 'norm')))}"

    def update_caption(bad: np.ndarray) -> str:
        if bad.any():
            return _bad_text(series, bad)
        upd = _last(series.stat((i, Channel.UPDATE), "norm"))
        w = _last(series.stat((i, Channel.WEIGHTS), "norm"))
        text = f"‖Δ‖ {svg.fmt(upd)}"
        if math.isfinite(upd) and math.isfinite(w) and w > 0:
            text += f" · ‖Δ‖/‖W‖ {svg.fmt(upd / w)}"
        return text

    return [
        spread(Channel.OUTPUT, "forward output"),
        norms([(Channel.WEIGHT_GRAD, "l0"), (Channel.OUTPUT_GRAD, "l1 dash")], "gradient", grad_caption),
        spread(Channel.WEIGHTS, "weights"),
        norms([(Channel.UPDATE, "l0")], "update", update_caption),
    ]


def _caption_spread(series: RunSeries, key: tuple[int, Channel], bad: np.ndarray) -> str:
    if bad.any():
        return _bad_text(series, bad)
    parts = [f"μ {svg.fmt(_last(series.stat(key, 'mean')))} σ {svg.fmt(_last(series.stat(key, 'std')))}"]
    dead, sat = _last(series.stat(key, "dead_frac")), _last(series.stat(key, "sat_frac"))
    if math.isfinite(dead) and dead > 0:
        parts.append(f"dead {dead * 100:.0f}%")
    if math.isfinite(sat) and sat > 0:
        parts.append(f"saturated {sat * 100:.0f}%")
    return " · ".join(parts)


def _bad_text(series: RunSeries, bad: np.ndarray) -> str:
    return f'<span class="badtext">non-finite from step {int(series.steps[np.argmax(bad)])}</span>'


def _absent(label: str) -> str:
    return f'<span class="muted small">{escape(label)}: not recorded</span>'


def _shown_layers(layers: list[LayerInfo], by_layer: dict[int, list[int]], culprit: int | None) -> set[int]:
    """Indices of rows shown open: all for small models; else flagged layers, their neighbours, the ends."""
    indices = [layer.index for layer in layers]
    if len(indices) <= SHOW_ALL_LAYERS:
        return set(indices)
    flagged = set(by_layer) | ({culprit} if culprit is not None else set())
    keep = {indices[0], indices[-1]}
    for pos, index in enumerate(indices):
        if index in flagged:
            keep.update(indices[max(0, pos - 1): pos + 2])
    return keep


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
def _layer_link(ref: LayerRef) -> str:
    return (f'<a class="layer" href="#layer-{ref.index}"><code>{escape(ref.name)}</code></a>'
            f' <span class="muted">({escape(ref.type)}, #{ref.index})</span>')


def _finding_marks(findings: list[Finding], layer: int | None, axes: bool) -> list[svg.VLine]:
    """Vertical markers: the first finding (labelled), then the other distinct finding steps."""
    marks: list[svg.VLine] = []
    seen: set[int] = set()
    for n, f in enumerate(sorted(findings, key=lambda f: f.step)):
        if f.step in seen or len(seen) >= 20:
            continue
        seen.add(f.step)
        label = f"step {f.step}: {f.symptom}" + (f" in {f.layer.name}" if f.layer is not None else "")
        if n == 0 and axes:
            label = "first finding · " + label
        marks.append(svg.VLine(float(f.step), label, "vmark first" if n == 0 else "vmark", n == 0 and axes))
    return marks


def _buckets(n: int, most: int) -> list[np.ndarray]:
    """Split range(n) into at most ``most`` contiguous groups."""
    if n <= most:
        return [np.array([i]) for i in range(n)]
    return [g for g in np.array_split(np.arange(n), most) if len(g)]


def _agg_x(steps: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    return np.array([float(steps[g].mean()) for g in groups]) if groups else np.array([])


def _reduce(values: np.ndarray, groups: list[np.ndarray], fn: Callable[[np.ndarray], Any]) -> np.ndarray:
    if groups and all(len(g) == 1 for g in groups):
        return np.asarray(values, dtype=np.float64).copy()
    out = np.full(len(groups), np.nan)
    for k, g in enumerate(groups):
        chunk = values[g]
        chunk = chunk[np.isfinite(chunk)]
        if chunk.size:
            out[k] = fn(chunk)
    return out


def _agg_mean(values: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    return _reduce(values, groups, np.mean)


def _agg_min(values: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    return _reduce(values, groups, np.min)


def _agg_max(values: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    return _reduce(values, groups, np.max)


def _agg_any(mask: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    return np.array([bool(mask[g].any()) for g in groups], dtype=bool)


def _last(values: np.ndarray) -> float:
    """The last finite value (NaN if none)."""
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else math.nan


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
