"""Regenerate docs/img/report.png: a real (tiny) torch run with a learning rate far too high, its HTML
report, and a headless-Chromium screenshot of it.

    .venv/bin/python docs/img/make_report_png.py      # needs torch, playwright and Debian's chromium
"""

from __future__ import annotations

import tempfile
from collections import OrderedDict
from pathlib import Path

import torch
from playwright.sync_api import sync_playwright
from torch import nn

import deeplocalize as dl

HERE = Path(__file__).resolve().parent


def main() -> None:
    torch.manual_seed(0)
    x = torch.randn(512, 8)
    y = (x[:, 0] * x[:, 1] > 0).long()
    model = nn.Sequential(OrderedDict(fc1=nn.Linear(8, 32), relu1=nn.ReLU(), fc2=nn.Linear(32, 32),
                                      relu2=nn.ReLU(), out=nn.Linear(32, 2)))
    opt = torch.optim.SGD(model.parameters(), lr=12.0)
    loss_fn = nn.CrossEntropyLoss()
    with dl.watch(model, opt, on_fault="continue", store=False) as run:
        for _ in range(4):
            for i in range(0, 512, 32):
                opt.zero_grad()
                loss_fn(model(x[i:i + 32]), y[i:i + 32]).backward()
                opt.step()
    with tempfile.TemporaryDirectory() as tmp:
        page_path = run.diagnosis.save_html(Path(tmp) / "report.html", trace=run.monitor.trace,
                                            model=run.monitor.model)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(page_path.as_uri())
            page.screenshot(path=str(HERE / "report.png"), full_page=True)
            browser.close()
    print(f"wrote {HERE / 'report.png'}: {run.diagnosis.verdict}")


if __name__ == "__main__":
    main()
