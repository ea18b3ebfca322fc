"""Where the default overhead goes: time spent inside the probe's hooks per training step, by hook.

    python -m benchmarks.overhead.breakdown                 # cnn and transformer, 800 steps each
    python -m benchmarks.overhead.breakdown --workloads mlp --steps 400

Every hook the probe installs is wrapped with a ``perf_counter`` pair; per step, the time inside each hook
is summed. Reported: the median over ordinary steps (no per-layer hooks: the fused check at the optimizer
step, the model's own forward hooks, the loss wrapper) and over statistics steps (per-layer hooks attached
for that step), per hook; the mean over every step (what a long run pays per step), with the part of it
spent in ``Monitor.record`` (the held-back records, the trace, the store and the trend checks, which run
inside the step-end hook); and the plain step's median for scale. The wrappers add well under a microsecond
per call. This measures the probe in place, between the training's kernels.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import torch

import deeplocalize as dl
from benchmarks.overhead.workloads import TORCH_WORKLOADS
from deeplocalize.monitor import Monitor
from deeplocalize.probes import torch_hooks, torch_session, torch_unit

LAYERS = "layer hooks (statistics steps)"
#: (class, method) that torch calls (hooks and wrappers), with the label they are reported under
HOOKS: dict[tuple[type, str], str] = {
    (torch_unit.ModelUnit, "_on_forward"): "model forward pre-hook",
    (torch_unit.ModelUnit, "_on_output"): "model forward hook",
    (torch_session.TorchSession, "_on_loss"): "loss (accuracy, labels)",
    (torch_session.TorchSession, "_before_backward"): "backward start",
    (torch_session.TorchSession, "_after_backward"): "backward end",
    (torch_session.TorchSession, "_opt_pre"): "optimizer pre-hook (fused check)",
    (torch_session.TorchSession, "_opt_post"): "optimizer hook (step end)",
    (torch_hooks.LayerObserver, "on_input"): LAYERS,
    (torch_hooks.LayerObserver, "on_output"): LAYERS,
}
GRAD_HOOKS = "output-gradient hooks"
MONITOR = "Monitor.record"  # inside the step-end hook: records, trace, store, the trend checks


@contextlib.contextmanager
def timed_hooks(spent: collections.Counter) -> Iterator[None]:
    """Wrap the probe's hooks so that each call adds its duration to ``spent[label]``."""
    clock = time.perf_counter
    originals: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += clock() - start

        originals.append((owner, name, original))
        setattr(owner, name, timed)

    for (owner, name), label in HOOKS.items():
        wrap(owner, name, label)
    make_grad_hook = torch_hooks.LayerObserver._grad_hook

    def timed_grad_hook(self: Any, slot: Any) -> Callable[[Any], None]:
        hook = make_grad_hook(self, slot)

        def timed(grad: Any) -> None:
            start = clock()
            try:
                hook(grad)
            finally:
                spent[GRAD_HOOKS] += clock() - start
        return timed

    originals.append((torch_hooks.LayerObserver, "_grad_hook", make_grad_hook))
    torch_hooks.LayerObserver._grad_hook = timed_grad_hook  # type: ignore[method-assign]
    wrap(Monitor, "record", MONITOR)
    try:
        yield
    finally:
        for owner, name, original in reversed(originals):
            setattr(owner, name, original)


def breakdown(name: str, steps: int) -> tuple[float, dict[str, dict[str, float]]]:
    """(plain step median in µs, {"cheap"/"full": {label: median µs per step, "total": ...}, "mean": {"total":
    mean µs per step over every step, MONITOR: the part of it in ``Monitor.record``}}); "cheap" are the
    ordinary steps, "full" the statistics steps."""
    work = TORCH_WORKLOADS[name]()
    plain = []
    for i in range(steps // 2):
        start = time.perf_counter()
        work.step(i)
        plain.append(time.perf_counter() - start)
    config = dl.Config()
    spent: collections.Counter = collections.Counter()
    per_step: dict[str, list[dict[str, float]]] = {"cheap": [], "full": [], "every": []}
    with tempfile.TemporaryDirectory() as store, timed_hooks(spent), \
            dl.watch(work.model, work.optimizer, on_fault="continue", store=store, config=config):
        for i in range(1, steps + 1):
            spent.clear()
            work.step(i)
            if i <= 2:
                continue  # warm-up, model facts, pre-flight checks
            # Monitor.record runs inside the step-end hook: not added to the total twice
            per_step["every"].append({"total": sum(v for k, v in spent.items() if k != MONITOR),
                                      MONITOR: spent.get(MONITOR, 0.0)})
            kind = "full" if spent.get(LAYERS, 0.0) > 0 else "cheap"
            if kind == "cheap" and i % max(1, config.check_every) == 0:
                continue  # a trend check (and the batch of held-back records) lands here
            per_step[kind].append({**spent, "total": sum(v for k, v in spent.items() if k != MONITOR)})
    labels = [*dict.fromkeys(HOOKS.values()), GRAD_HOOKS, "total"]
    medians = {kind: {label: statistics.median([s.get(label, 0.0) for s in rows]) * 1e6 for label in labels}
               for kind, rows in per_step.items() if rows and kind != "every"}
    medians["mean"] = {label: statistics.fmean(s[label] for s in per_step["every"]) * 1e6
                       for label in ("total", MONITOR)}
    return statistics.median(plain[5:]) * 1e6, medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="cnn,transformer")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = f"python -m benchmarks.overhead.breakdown --workloads {args.workloads} --steps {args.steps}"
    print(f"Command: `{command}`")
    print()
    print("| workload | hook | ordinary step, µs | statistics step, µs |")
    print("|---|---|---:|---:|")
    for name in args.workloads.split(","):
        plain, medians = breakdown(name, args.steps)
        for label in medians["cheap"]:
            cheap, full = medians["cheap"][label], medians.get("full", {}).get(label, float("nan"))
            bold = "**" if label == "total" else ""
            print(f"| {name} | {bold}{label}{bold} | {bold}{cheap:.0f}{bold} | {bold}{full:.0f}{bold} |")
        mean = medians["mean"]
        print(f"| {name} | **every step, averaged** (ordinary, statistics and trend-check steps) | "
              f"**{mean['total']:.0f}** | |")
        print(f"| {name} | of which `{MONITOR}` (records, trace, store, trend checks) | "
              f"{mean[MONITOR]:.0f} | |")
        print(f"| {name} | (plain step, for scale) | {plain:.0f} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
