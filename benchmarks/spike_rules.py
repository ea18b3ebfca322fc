"""How often each loss-spike rule fires on runs that are healthy: the evidence behind ``Config.spike_*``.

Reads the probe captures a benchmark run kept (``python -m benchmarks.bench --traces DIR``) and, for every
healthy or fixed variant, finds the steps whose loss passes each rule against the previous 128 finite losses:
OLMo-core's mean + 6 sigma alone, with 2x the window's mean, and with 1x / 2x / 10x (Megatron) the window's
largest loss; and deeplocalize's rule as built (``deeplocalize.spikes``: mean + 6 sigma and 2x the largest,
earlier spikes kept out of the window). A rule that fires on a healthy run names mini-batch noise a spike.

    python -m benchmarks.spike_rules DIR [DIR ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.capture import load
from deeplocalize.config import Config
from deeplocalize.spikes import spikes_in

WINDOW, MIN_HISTORY, Z = 128, 32, 6.0
RULES = {
    "mean + 6 sigma (OLMo)": lambda x, mean, std, top: x > mean + Z * std,
    "... and 2x the mean": lambda x, mean, std, top: x > max(mean + Z * std, 2 * mean),
    "... and above the largest": lambda x, mean, std, top: x > max(mean + Z * std, top),
    "... and 2x the largest": lambda x, mean, std, top: x > max(mean + Z * std, 2 * top),
    "... and 10x the largest (Megatron)": lambda x, mean, std, top: x > max(mean + Z * std, 10 * top),
}


def fires(losses: np.ndarray) -> dict[str, bool]:
    """Whether each rule finds a spike anywhere in ``losses``."""
    out = dict.fromkeys(RULES, False)
    for i in range(len(losses)):
        prev = losses[max(0, i - WINDOW):i]
        prev = prev[np.isfinite(prev)]
        if len(prev) < MIN_HISTORY or not np.isfinite(losses[i]) or prev.mean() <= 0:
            continue
        for name, rule in RULES.items():
            out[name] = out[name] or bool(rule(losses[i], prev.mean(), prev.std(), prev.max()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="+", type=Path, help="--traces directories of benchmark runs")
    args = parser.parse_args(argv)
    built = "deeplocalize (Config defaults)"
    counts = dict.fromkeys([*RULES, built], 0)
    runs = 0
    for directory in args.traces:
        for path in sorted(directory.glob("*.probe.s*.pkl")):
            if ".buggy." in path.name:
                continue
            capture = load(path)
            if not capture.records:
                continue
            runs += 1
            losses = np.array([np.nan if r.loss is None else r.loss for r in capture.records], dtype=float)
            for name, fired in fires(losses).items():
                counts[name] += fired
            counts[built] += bool(spikes_in(losses, Config())[0].size)
    print(f"| rule (window {WINDOW} steps) | healthy or fixed runs with a spike (of {runs}) |")
    print("|---|---:|")
    for name, count in counts.items():
        print(f"| {name} | {count} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
