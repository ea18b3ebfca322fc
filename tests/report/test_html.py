"""The HTML report: content, self-containment, collapsed healthy layers, a real headless-browser load."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from _report_sample import NAN_STEP, build, healthy

from deeplocalize.diagnosis import Diagnosis
from deeplocalize.report import svg
from deeplocalize.report._data import collect
from deeplocalize.report.html import render_html, write_html
from deeplocalize.vocabulary import Channel


def _row(html: str, index: int) -> str:
    """The markup of one layer row (up to the next row or fold)."""
    start = html.index(f'id="layer-{index}"')
    start = html.rindex("<div", 0, start)
    end = min(i for i in (html.find('<div class="row', start + 1), html.find("<details", start + 1),
                          html.find("</section>", start)) if i > 0)
    return html[start:end]


def test_faulty_report_leads_with_verdict_and_fix_and_marks_the_layer(tmp_path: Path) -> None:
    diagnosis, trace, model = build()
    path = write_html(diagnosis, tmp_path / "r" / "report.html", trace=trace, model=model)
    html = path.read_text(encoding="utf-8")
    verdict_at = html.index("FAULTY")
    fix_at = html.index(diagnosis.root_causes[0].fix)
    assert verdict_at < fix_at < html.index('id="timeline"') < html.index('id="layers"')
    culprit = _row(html, 2)
    assert 'class="row fault culprit"' in culprit and "fc2" in culprit and "root cause" in culprit
    assert "numerical_error · forward · step 17" in culprit
    assert f"non-finite from step {NAN_STEP}" in culprit and 'class="bad"' in culprit
    healthy_row = _row(html, 0)
    assert "fault" not in healthy_row.split(">", 1)[0]
    # the loss timeline marks the first finding's step and the NaN loss
    timeline = html[html.index('id="timeline"'):html.index('id="layers"')]
    assert "first finding · step 12" in timeline and f"non-finite from step {NAN_STEP}" in timeline


def test_embedded_json_is_the_diagnosis(tmp_path: Path) -> None:
    diagnosis, trace, model = build()
    html = render_html(diagnosis, trace, model)
    raw = re.search(r'<script type="application/json" id="deeplocalize-diagnosis">(.*?)</script>', html, re.S)
    assert raw is not None
    assert Diagnosis.from_dict(json.loads(raw.group(1))).to_dict() == diagnosis.to_dict()


def test_self_contained_and_well_formed_svg() -> None:
    diagnosis, trace, model = build()
    html = render_html(diagnosis, trace, model)
    without_ns = html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http://" not in without_ns and "https://" not in without_ns
    assert not re.search(r"<script[^>]+src=", html) and not re.search(r"<link[^>]+href=\"(?!data:)", html)
    charts = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(charts) >= 2 + 6 * 2  # loss + accuracy + the layer cells
    for chart in charts:
        ET.fromstring(chart)  # strict XML: a malformed chart fails here


def test_without_trace_shows_the_diagnosis_only(tmp_path: Path) -> None:
    diagnosis, _, _ = build()
    path = diagnosis.save_html(tmp_path / "d.html")
    html = path.read_text(encoding="utf-8")
    assert "plots are unavailable" in html and "<svg" not in html
    assert 'id="layer-2"' in html and diagnosis.root_causes[0].fix in html


def test_healthy_report() -> None:
    diagnosis, trace, model = healthy()
    html = render_html(diagnosis, trace, model)
    assert "HEALTHY" in html and "no fault found" in html
    assert "root cause" not in html and 'class="row fault' not in html


def test_hundred_layers_collapse_rows_without_findings() -> None:
    diagnosis, trace, model = build(n_layers=100, faulty=57, steps=200)
    html = render_html(diagnosis, trace, model)
    folds = re.findall(r'<details class="fold">.*?</details>', html, re.S)
    folded = "".join(folds)
    assert len(folds) == 2  # 1..55 and 59..98
    assert 'id="layer-57"' not in folded and 'id="layer-56"' not in folded and 'id="layer-0"' not in folded
    assert 'id="layer-30"' in folded and 'id="layer-80"' in folded
    assert "layers 1–55 · 55 without findings" in html
    assert len(html) < 3_000_000  # stays a file a browser opens instantly


def test_history_older_than_the_window_is_plotted() -> None:
    _, trace, _ = build(steps=200)
    window_start = int(trace.steps()[0])
    assert window_start > 1  # the window no longer holds the first steps
    series = collect(trace)
    assert series.steps[0] < window_start and np.all(np.diff(series.steps) > 0)
    assert series.steps[-1] == 200
    assert len(series) == len(series.loss) == len(series.stats[(0, Channel.OUTPUT)])
    assert np.isfinite(series.loss[0]) and np.isnan(series.loss[-1])


def test_svg_helpers() -> None:
    assert svg.fmt(0.0) == "0" and svg.fmt(float("nan")) == "–" and svg.fmt(1.5e-9) == "1.5e-9"
    assert svg.nice_ticks(0, 10, 4) == [0, 2.5, 5, 7.5, 10]
    x = np.arange(5.0)
    assert "not recorded" in svg.chart(x, lines=[svg.Line(np.full(5, np.nan))])
    bad = np.array([False, False, True, True, True])
    out = svg.chart(x, lines=[svg.Line(np.array([1.0, 0.0, np.nan, np.nan, np.nan]))], log=True, bad=bad)
    assert out.count('class="bad"') == 1 and "<polyline" in out
    ET.fromstring(out)


# ------------------------------------------------------------------------------------------ real browser
def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium (Debian package `chromium`) not installed")
def test_report_loads_in_headless_chromium(tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    diagnosis, trace, model = build()
    small = write_html(diagnosis, tmp_path / "small.html", trace=trace, model=model)
    big_d, big_t, big_m = build(n_layers=100, faulty=57, steps=120)
    big = write_html(big_d, tmp_path / "big.html", trace=big_t, model=big_m)
    problems: list[str] = []
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in
                    ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.goto(small.as_uri(), wait_until="load")
            culprit = page.locator(".row.culprit")
            assert culprit.count() == 1 and culprit.is_visible()
            assert "fc2" in culprit.inner_text() and "root cause" in culprit.inner_text()
            assert page.locator("header.verdict").inner_text().startswith("DEEPLOCALIZE REPORT\nFAULTY")
            assert page.locator("svg.chart").count() > 10
            page.goto(big.as_uri(), wait_until="load")
            assert page.locator("#layer-57").is_visible()
            assert not page.locator("#layer-30").is_visible()  # collapsed
            page.locator("details.fold summary").first.click()
            assert page.locator("#layer-30").is_visible()
        finally:
            browser.close()
    assert problems == []


def test_several_models_are_listed_apart() -> None:
    diagnosis, trace, model = build()
    diagnosis.model = "Generator"
    other = Diagnosis(verdict=healthy()[0].verdict, framework="torch", steps_observed=30, model="Critic")
    html = render_html(Diagnosis.combine([other, diagnosis]), trace=trace, model=model)
    section = html[html.index('id="models"'):html.index('id="fixes"')]
    assert section.index("Critic") < section.index("Generator")
    first = diagnosis.faults[0]
    assert "healthy" in section and f"{first.symptom} ({first.phase}) in <code>{first.layer.name}</code>, " \
        f"step {first.step}" in section
    single = render_html(diagnosis, trace=trace, model=model)
    assert 'id="models"' not in single
