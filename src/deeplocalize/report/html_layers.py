"""The per-layer part of the HTML report: one row per layer (forward / backward / weights / update small
multiples, the layer's facts and its findings), the faulty layers highlighted, runs of layers without
findings collapsed in large models; and the layer links and finding markers the other sections share."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from html import escape

import numpy as np

from deeplocalize.diagnosis import Diagnosis, Finding
from deeplocalize.model import LayerInfo, LayerRef
from deeplocalize.report import svg
from deeplocalize.report._data import (
    RunSeries,
    agg_any,
    agg_max,
    agg_mean,
    agg_min,
    agg_x,
    buckets,
    last_finite,
)
from deeplocalize.vocabulary import Channel

#: At most this many points per small-multiple chart (buckets keep min/max).
SPARK_POINTS = 80
#: Models with at most this many layers show every row; larger ones collapse rows without findings.
SHOW_ALL_LAYERS = 16

COLUMNS = ("forward", "backward", "weights", "update")


def layers_section(diagnosis: Diagnosis, layers: list[LayerInfo], by_layer: dict[int, list[int]],
            culprit: int | None, series: RunSeries | None) -> str:
    if not layers:
        return ""
    plots = series is not None and len(series) > 0
    groups = buckets(len(series), SPARK_POINTS) if plots else []
    x = agg_x(series.steps, groups) if plots else np.array([])
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
        marks = finding_marks(findings, None, axes=False)
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
            x, lines=[svg.Line(agg_mean(mean, groups), "l0")],
            bands=[svg.Band(agg_min(lo, groups), agg_max(hi, groups), "b0"),
                   svg.Band(agg_mean(mean - std, groups), agg_mean(mean + std, groups), "b1")],
            bad=agg_any(bad_full, groups), vlines=marks, width=170, height=46,
            title=f"{label} of {name}: mean, ±std, min–max over steps",
        )
        caption = _caption_spread(series, key, bad_full)
        return f"{chart}<small>{caption}</small>"

    def norms(chs: Iterable[tuple[Channel, str]], label: str, caption_fn: Callable[[np.ndarray], str]) -> str:
        present = [(ch, cls) for ch, cls in chs if (i, ch) in series.stats]
        if not present:
            return _absent(label)
        lines = [svg.Line(agg_mean(series.stat((i, ch), "norm"), groups), cls) for ch, cls in present]
        bad_full = nonfinite(*(ch for ch, _ in present))
        chart = svg.chart(x, lines=lines, log=True, bad=agg_any(bad_full, groups), vlines=marks,
                          width=170, height=46, title=f"{label} of {name}: norm over steps (log scale)")
        return f"{chart}<small>{caption_fn(bad_full)}</small>"

    def grad_caption(bad: np.ndarray) -> str:
        if bad.any():
            return _bad_text(series, bad)
        wgrad = (i, Channel.WEIGHT_GRAD)
        key = wgrad if wgrad in series.stats else (i, Channel.OUTPUT_GRAD)
        return f"‖∇‖ {svg.fmt(last_finite(series.stat(key, 'norm')))}"

    def update_caption(bad: np.ndarray) -> str:
        if bad.any():
            return _bad_text(series, bad)
        upd = last_finite(series.stat((i, Channel.UPDATE), "norm"))
        w = last_finite(series.stat((i, Channel.WEIGHTS), "norm"))
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
    mean, std = last_finite(series.stat(key, "mean")), last_finite(series.stat(key, "std"))
    parts = [f"μ {svg.fmt(mean)} σ {svg.fmt(std)}"]
    dead, sat = last_finite(series.stat(key, "dead_frac")), last_finite(series.stat(key, "sat_frac"))
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


def layer_link(ref: LayerRef) -> str:
    return (f'<a class="layer" href="#layer-{ref.index}"><code>{escape(ref.name)}</code></a>'
            f' <span class="muted">({escape(ref.type)}, #{ref.index})</span>')


def finding_marks(findings: list[Finding], layer: int | None, axes: bool) -> list[svg.VLine]:
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
