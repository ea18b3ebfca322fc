"""Overhead benchmark: time per training step, plain vs. deeplocalize vs. the usual debuggers.

    python -m benchmarks.overhead.run                 # all workloads, writes docs/performance.md
    python -m benchmarks.overhead.run --workloads cnn --rounds 5 --steps 40 --no-docs
    python -m benchmarks.overhead.run --memory 20000  # resident memory and store size over a long run
    python -m benchmarks.overhead.run --device cuda --workloads mlp,cnn,transformer,lstm  # on a GPU

Variants run alternately in one process (A B C ... A B C ...) after a warm-up, so drift in the machine's speed
hits all of them alike; each variant's figure is the median over rounds of its time per step, and its ratio is
the median (min-max) over rounds of (variant / plain in the same round).

On a shared CPU the default clock is the process's CPU time (``--clock cpu``) with one torch thread
(``--threads 1``): wall time there mostly measures the other tenants (a 2-core machine at load 10 gave
ratios from 0.5x to 12x for the same code). ``--clock wall`` is for a quiet machine or a GPU; ``--device
cuda`` implies it and synchronises the device before reading the clock (the probe itself never waits for
the GPU: its one copy per step runs behind the kernels).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import torch

import deeplocalize as dl
from benchmarks.overhead.debuggers import anomaly_mode, fused_check_floor, hook_debugger
from benchmarks.overhead.workloads import BATCH_SCALE, TORCH_WORKLOADS, Workload

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "performance.md"

TORCH_VARIANTS = ("plain", "floor", "ordinary", "default", "stats_step", "anomaly", "hook_debugger")
KERAS_VARIANTS = ("plain", "ordinary", "default", "stats_step")
#: A statistics step's share once a healthy run's cadence has backed off (``Config.stats_every_max``).
LONG_RUN_STATS_EVERY = dl.Config().stats_every_max


def variant_config(variant: str) -> dl.Config | None:
    """The watch settings of a variant. ``ordinary``: no statistics step after the first (untimed) one and
    no trend check in a round, whatever the run shows (a fixed schedule: no densifying after a warning or
    a loss jump): the cost of an ordinary step alone. ``default``: the default settings in their dense
    phase (a statistics step and a trend check every 20 steps, as in a run's first 300 steps).
    ``stats_step``: every step a statistics step (what one costs). ``every_K``: statistics every K steps."""
    never = 1_000_000
    if variant == "ordinary":
        return dl.Config(stats_every=never, stats_dense_steps=1, stats_every_max=never, check_every=never,
                         check_every_max=never, stats_adaptive=False)
    if variant == "stats_step":
        return dl.Config(stats_every=1, stats_dense_steps=never)
    if variant.startswith("every_"):
        return dl.Config(stats_every=int(variant.removeprefix("every_")))
    return None


@dataclass
class Result:
    workload: str
    variant: str
    per_step: list[float] = field(default_factory=list)  # seconds per step, one per round
    ratios: list[float] = field(default_factory=list)  # vs plain in the same round

    @property
    def median_ms(self) -> float:
        return statistics.median(self.per_step) * 1e3

    def best_ratio(self, plain: Result) -> str:
        """Fastest round vs plain's fastest round: on a shared CPU interference only adds time."""
        return f"{min(self.per_step) / min(plain.per_step):.3f}" if self.per_step and plain.per_step else ""

    def ratio_text(self) -> str:
        if not self.ratios:
            return "1.00"
        return f"{statistics.median(self.ratios):.3f} ({min(self.ratios):.3f}–{max(self.ratios):.3f})"


def _torch_context(variant: str, work: Workload, store: str) -> contextlib.AbstractContextManager:
    if variant == "plain":
        return contextlib.nullcontext()
    if variant == "anomaly":
        return anomaly_mode()
    if variant == "hook_debugger":
        return hook_debugger(work.model)
    if variant == "floor":
        return fused_check_floor(work.model, work.optimizer)
    if variant in ("default", "ordinary", "stats_step") or variant.startswith("every_"):
        return dl.watch(work.model, work.optimizer, on_fault="continue", config=variant_config(variant),
                        store=store)
    raise ValueError(variant)


def _clock(kind: str, device: str = "cpu") -> Callable[[], float]:
    if device.startswith("cuda"):
        def now() -> float:
            torch.cuda.synchronize()
            return time.perf_counter()
        return now
    return time.process_time if kind == "cpu" else time.perf_counter


def time_torch(name: str, rounds: int, steps: int, variants: tuple[str, ...], store: str,
               clock: str = "cpu", warm: int = 3, device: str = "cpu") -> list[Result]:
    """Alternate the variants over ``rounds`` rounds of ``steps`` steps each on one workload.

    Each round enters the variant's context, runs ``warm`` untimed steps (a watched run's first step reads
    the model facts and runs the pre-flight checks, once per run), then times ``steps`` steps: a multiple
    of ``stats_every`` gives every variant its fair share of full-statistics steps, as in a long run.
    """
    work = TORCH_WORKLOADS[name]().to(device)
    now = _clock(clock, device)
    results = {v: Result(name, v) for v in variants}
    for v in variants:  # warm-up: every code path once
        with _torch_context(v, work, store):
            for i in range(5):
                work.step(i)
    for r in range(rounds):
        order = variants[r % len(variants):] + variants[: r % len(variants)]
        times: dict[str, float] = {}
        for v in order:
            with _torch_context(v, work, store):
                for i in range(warm):
                    work.step(i)
                start = now()
                for i in range(steps):
                    work.step(warm + i)
                times[v] = (now() - start) / steps
        for v in variants:
            results[v].per_step.append(times[v])
            if v != "plain":
                results[v].ratios.append(times[v] / times["plain"])
    return list(results.values())


def _keras_callbacks(variant: str, store: str) -> list:
    if variant == "plain":
        return []
    from deeplocalize.keras import DeepLocalize

    return [DeepLocalize(on_fault="continue", config=variant_config(variant), store=store, verbose=0)]


def time_keras(rounds: int, steps: int, store: str, clock: str = "cpu") -> list[Result]:
    """A Keras 3 CNN (torch backend) trained with ``fit``, with and without the callback."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    batch = 64
    x = rng.normal(size=(batch * steps, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=batch * steps)
    now = _clock(clock)
    results = {v: Result("keras_cnn", v) for v in KERAS_VARIANTS}
    for v in KERAS_VARIANTS:
        model.fit(x[: batch * 5], y[: batch * 5], batch_size=batch, epochs=1, verbose=0,
                  callbacks=_keras_callbacks(v, store))
    for r in range(rounds):
        k = r % len(KERAS_VARIANTS)
        order = KERAS_VARIANTS[k:] + KERAS_VARIANTS[:k]
        times: dict[str, float] = {}
        for v in order:
            start = now()
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False,
                      callbacks=_keras_callbacks(v, store))
            times[v] = (now() - start) / steps
        for v in KERAS_VARIANTS:
            results[v].per_step.append(times[v])
            if v != "plain":
                results[v].ratios.append(times[v] / times["plain"])
    return list(results.values())


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure_memory(total_steps: int, store: str) -> list[tuple[int, float, float]]:
    """Resident memory (MiB) and store files' size (KiB, SQLite + WAL) over a long monitored run."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(32, 16), torch.randint(0, 2, (32,))
    rows: list[tuple[int, float, float]] = []
    every = max(1, total_steps // 10)
    early = {n for n in (100, 300, 1000) if n < every}  # the store fills its window, then stays bounded
    with dl.watch(model, opt, on_fault="continue", store=store):
        for step in range(1, total_steps + 1):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            if step % every == 0 or step in early:
                size = sum(p.stat().st_size for p in Path(store).rglob("*") if p.is_file())
                rows.append((step, _rss_mib(), size / 1024))
    return rows


def _load() -> str:
    try:
        return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "load unknown"


def _machine(device: str = "cpu") -> str:
    where = f"GPU {torch.cuda.get_device_name(device)}" if device.startswith("cuda") else "CPU"
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), {where}, {_load()} at the end")


def render(results: list[Result], rounds: int, steps: int, command: str, clock: str = "cpu",
           device: str = "cpu") -> str:
    unit = "CPU ms/step" if clock == "cpu" and device == "cpu" else "wall ms/step"
    lines = [
        f"| workload | variant | median {unit} | ratio to plain: median (min–max) | fastest vs fastest |",
        "|---|---|---:|---|---:|",
    ]
    plain = {r.workload: r for r in results if r.variant == "plain"}
    by = {(r.workload, r.variant): r for r in results}
    for res in results:
        best = res.best_ratio(plain[res.workload]) if res.workload in plain else ""
        lines.append(
            f"| {res.workload} | {res.variant} | {res.median_ms:.2f} | {res.ratio_text()} | {best} |")
        ordinary, stats = by.get((res.workload, "ordinary")), by.get((res.workload, "stats_step"))
        if res.variant == "stats_step" and ordinary is not None and ordinary.ratios and stats is not None:
            lines.append(f"| {res.workload} | long run (derived) | | {long_run(ordinary, stats):.3f} | |")
    head = (f"Command: `{command}`  \nMachine: {_machine(device)}  \n"
            f"Date: {dt.date.today().isoformat()}; "
            f"{rounds} alternating rounds of {steps} timed steps after warm-up. "
            f"*long run (derived)*: ordinary + (stats_step − ordinary) / {LONG_RUN_STATS_EVERY}, the ratio "
            f"once a healthy run's statistics steps are {LONG_RUN_STATS_EVERY} steps apart.\n")
    return head + "\n" + "\n".join(lines) + "\n"


def long_run(ordinary: Result, stats: Result) -> float:
    """The ratio to plain once statistics steps come every ``LONG_RUN_STATS_EVERY`` steps (medians)."""
    o, s = statistics.median(ordinary.ratios), statistics.median(stats.ratios)
    return o + (s - o) / LONG_RUN_STATS_EVERY


def render_memory(rows: list[tuple[int, float, float]], command: str) -> str:
    lines = ["| step | resident memory (MiB) | store size (KiB) |", "|---:|---:|---:|"]
    lines += [f"| {s} | {rss:.1f} | {kib:.0f} |" for s, rss, kib in rows]
    return f"Command: `{command}`  \nMachine: {_machine()}\n\n" + "\n".join(lines) + "\n"


def _replace_section(doc: str, marker: str, body: str) -> str:
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    block = f"{start}\n{body}{end}"
    if start in doc and end in doc:
        return doc[: doc.index(start)] + block + doc[doc.index(end) + len(end):]
    return doc.rstrip() + "\n\n" + block + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overhead.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default="mlp,cnn,transformer,lstm,keras")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20,
                        help="timed steps per round (a multiple of stats_every; default 20)")
    parser.add_argument("--warm", type=int, default=3, help="untimed steps at the start of each round")
    parser.add_argument("--variants", default=",".join(TORCH_VARIANTS),
                        help="torch variants to time (plain is always included); every_K: stats_every=K")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1; 0: torch's own)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="cpu: process CPU time (robust on a shared machine); wall: elapsed time")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]: where the workloads run")
    parser.add_argument("--batch-scale", type=int, default=1, metavar="K",
                        help="multiply every workload's batch size by K (e.g. to keep a GPU busy)")
    parser.add_argument("--memory", type=int, default=0, metavar="STEPS",
                        help="instead: measure memory and store size over a run of STEPS steps")
    parser.add_argument("--no-docs", action="store_true",
                        help="print only; do not update docs/performance.md")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.overhead.run " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    BATCH_SCALE["factor"] = max(1, args.batch_scale)
    on_gpu = args.device.startswith("cuda")
    clock = "wall" if on_gpu else args.clock
    variants = tuple(dict.fromkeys(["plain", *(v for v in args.variants.split(",") if v)]))
    unknown = {v for v in variants if v not in TORCH_VARIANTS and not v.removeprefix("every_").isdigit()}
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {', '.join(TORCH_VARIANTS)}")
    with tempfile.TemporaryDirectory() as store:
        if args.memory:
            section, body = "memory", render_memory(measure_memory(args.memory, store), command.strip())
        else:
            results: list[Result] = []
            for name in [w for w in args.workloads.split(",") if w]:
                print(f"timing {name} ...", file=sys.stderr)
                if name == "keras":
                    if on_gpu:
                        parser.error("the keras workload runs on the CPU only")
                    results += time_keras(args.rounds, args.steps, store, clock)
                else:
                    results += time_torch(name, args.rounds, args.steps, variants, store, clock,
                                          args.warm, args.device)
            section = "overhead" if not on_gpu else (
                "overhead-gpu" + (f"-b{BATCH_SCALE['factor']}" if BATCH_SCALE["factor"] > 1 else ""))
            body = render(results, args.rounds, args.steps, command.strip(), clock, args.device)
    print(body)
    if not args.no_docs:
        doc = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n"
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(_replace_section(doc, section, body), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
