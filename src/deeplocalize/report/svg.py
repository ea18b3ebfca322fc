"""Tiny inline-SVG charts for the HTML report (numpy + stdlib; no plotting library, nothing to load).

Colours and strokes come from CSS classes defined by the page (``report/html.py``), so each chart stays
small: a 100-layer report holds a few hundred of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np


@dataclass
class Line:
    """A polyline; NaN/Inf values leave gaps."""

    y: np.ndarray
    cls: str = "l0"
    label: str = ""


@dataclass
class Band:
    """A filled band between ``lo`` and ``hi`` (gaps where either is not finite)."""

    lo: np.ndarray
    hi: np.ndarray
    cls: str = "b0"


@dataclass
class VLine:
    """A vertical marker at ``x`` (e.g. the first-finding step)."""

    x: float
    label: str = ""  # hover text
    cls: str = "vmark"
    show_label: bool = False  # also print the label on full charts (``axes=True``)


def fmt(value: float) -> str:
    """A compact, readable number: 0, 12, 0.031, 1.2e-09, nan."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    value = float(value)
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    mag = abs(value)
    if mag >= 1e5 or mag < 1e-3:
        return f"{value:.2g}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")
    if mag >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    ticks = []
    value = start
    while value <= hi + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks


def chart(
    x: np.ndarray,
    *,
    lines: Sequence[Line] = (),
    bands: Sequence[Band] = (),
    width: int = 160,
    height: int = 44,
    log: bool = False,
    bad: np.ndarray | None = None,
    vlines: Sequence[VLine] = (),
    axes: bool = False,
    title: str = "",
    empty_text: str = "not recorded",
    xlim: tuple[float, float] | None = None,
) -> str:
    """An SVG chart of ``lines`` and ``bands`` over ``x``.

    ``log``: log10 y axis (values <= 0 are drawn at the bottom). ``bad``: a boolean mask over ``x`` whose
    True spans are shaded red (non-finite values). ``axes``: draw y ticks and x ticks (a full chart rather
    than a sparkline). ``title`` becomes the hover tooltip. ``xlim``: the x range (to align several charts).
    """
    x = np.asarray(x, dtype=np.float64)
    left, right, top, bottom = (46, 10, 8, 18) if axes else (2, 2, 3, 3)
    pw, ph = width - left - right, height - top - bottom
    parts = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg" role="img">']
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    parts.append(f'<rect class="frame" x="{left}" y="{top}" width="{pw}" height="{ph}"/>')

    values = [ln.y for ln in lines] + [b.lo for b in bands] + [b.hi for b in bands]
    yt = [_transform(np.asarray(v, dtype=np.float64), log) for v in values]
    finite = np.concatenate([v[np.isfinite(v)] for v in yt]) if yt else np.array([])
    if len(x) == 0:
        parts.append(_text(left + pw / 2, top + ph / 2 + 4, empty_text, "empty"))
        parts.append("</svg>")
        return "".join(parts)
    x0, x1 = xlim if xlim is not None else (float(np.min(x)), float(np.max(x)))
    if x1 <= x0:
        x0, x1 = x0 - 1, x1 + 1

    def sx(v: np.ndarray | float) -> np.ndarray | float:
        return left + (np.asarray(v) - x0) / (x1 - x0) * pw

    if bad is not None and np.any(bad):
        parts.append(_spans(np.asarray(bad, dtype=bool), x, sx, top, ph))

    if finite.size == 0:
        msg = "all non-finite" if bad is not None and np.all(bad) else empty_text
        parts.append(_text(left + pw / 2, top + ph / 2 + 4, msg, "empty"))
    else:
        y0, y1 = float(finite.min()), float(finite.max())
        if y1 - y0 <= 1e-12 * max(1.0, abs(y0)):
            pad = 1.0 if y0 == 0 else abs(y0) * 0.1
            y0, y1 = y0 - pad, y1 + pad
        else:
            pad = (y1 - y0) * 0.06
            y0, y1 = y0 - pad, y1 + pad

        def sy(v: np.ndarray | float) -> np.ndarray | float:
            return top + (1.0 - (np.asarray(v) - y0) / (y1 - y0)) * ph

        if axes:
            parts.append(_axes(x0, x1, y0, y1, sx, sy, left, top, pw, ph, log))
        n_lines = len(lines)
        for i, band in enumerate(bands):
            lo, hi = yt[n_lines + i], yt[n_lines + len(bands) + i]
            parts.append(_band(x, lo, hi, sx, sy, band.cls))
        for i, line in enumerate(lines):
            parts.append(_line(x, yt[i], sx, sy, line.cls))
    for mark in vlines:
        if x0 <= mark.x <= x1:
            px = float(sx(mark.x))
            parts.append(f'<line class="{mark.cls}" x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{top + ph}">'
                         f"<title>{escape(mark.label)}</title></line>")
            if axes and mark.show_label and mark.label:
                anchor = "end" if px > left + pw * 0.7 else "start"
                dx = -3 if anchor == "end" else 3
                parts.append(f'<text class="vlabel" x="{px + dx:.1f}" y="{top + 10}" text-anchor="{anchor}">'
                             f"{escape(mark.label)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _transform(v: np.ndarray, log: bool) -> np.ndarray:
    if not log:
        return np.where(np.isfinite(v), v, np.nan)
    out = np.full(v.shape, np.nan)
    pos = np.isfinite(v) & (v > 0)
    if pos.any():
        out[pos] = np.log10(v[pos])
        floor = float(out[pos].min()) - 1.0
    else:
        floor = -12.0
    out[np.isfinite(v) & (v <= 0)] = floor  # zeros sit one decade below the smallest positive value
    return out


def _segments(mask: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous True runs of ``mask`` as [start, end) index pairs."""
    runs, start = [], None
    for i, ok in enumerate(mask):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(mask)))
    return runs


def _line(x: np.ndarray, y: np.ndarray, sx, sy, cls: str) -> str:
    out = []
    px, py = sx(x), sy(np.nan_to_num(y))
    for a, b in _segments(np.isfinite(y)):
        if b - a == 1:
            out.append(f'<circle class="{cls} dot" cx="{px[a]:.1f}" cy="{py[a]:.1f}" r="1.6"/>')
            continue
        pts = " ".join(f"{px[i]:.1f},{py[i]:.1f}" for i in range(a, b))
        out.append(f'<polyline class="{cls}" points="{pts}"/>')
    return "".join(out)


def _band(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, sx, sy, cls: str) -> str:
    out = []
    px = sx(x)
    plo, phi = sy(np.nan_to_num(lo)), sy(np.nan_to_num(hi))
    for a, b in _segments(np.isfinite(lo) & np.isfinite(hi)):
        if b - a < 2:
            continue
        pts = [f"{px[i]:.1f},{phi[i]:.1f}" for i in range(a, b)]
        pts += [f"{px[i]:.1f},{plo[i]:.1f}" for i in range(b - 1, a - 1, -1)]
        out.append(f'<polygon class="{cls}" points="{" ".join(pts)}"/>')
    return "".join(out)


def _spans(bad: np.ndarray, x: np.ndarray, sx, top: float, ph: float) -> str:
    out = []
    px = sx(x)
    half = (px[1] - px[0]) / 2 if len(px) > 1 else 2.0
    for a, b in _segments(bad):
        x_start = px[a] - half
        w = max(2.0, px[b - 1] - px[a] + 2 * half)
        out.append(f'<rect class="bad" x="{x_start:.1f}" y="{top}" width="{w:.1f}" height="{ph}"/>')
    return "".join(out)


def _axes(x0, x1, y0, y1, sx, sy, left, top, pw, ph, log) -> str:
    out = []
    for t in nice_ticks(y0, y1, 3):
        py = float(sy(t))
        label = fmt(10**t) if log else fmt(t)
        out.append(f'<line class="grid" x1="{left}" y1="{py:.1f}" x2="{left + pw}" y2="{py:.1f}"/>')
        out.append(_text(left - 4, py + 3.5, label, "tick", anchor="end"))
    for t in nice_ticks(x0, x1, 5):
        if abs(t - round(t)) > 1e-9:
            continue
        px = float(sx(t))
        out.append(_text(px, top + ph + 13, f"{round(t)}", "tick", anchor="middle"))
    return "".join(out)


def _text(x: float, y: float, text: str, cls: str, anchor: str = "middle") -> str:
    return f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'
