"""Checks of the torch probe on a CUDA device: host synchronisations per step, NaN latency and producer on
the GPU, and bit-identical training with and without the probe.

    python -m benchmarks.overhead.gpu_check            # prints a markdown report (needs a CUDA device)

Host synchronisations are counted with ``torch.cuda.set_sync_debug_mode("warn")``, which warns on every
synchronising CUDA call (``.item()``, a device-to-host copy, ...); the figure is per training step, with
plain training's own count (e.g. the optimizer's) subtracted.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings

import torch
from torch import nn

import deeplocalize as dl
from benchmarks.overhead.debuggers import hook_debugger
from benchmarks.overhead.run import variant_config
from benchmarks.overhead.workloads import TORCH_WORKLOADS

DEVICE = "cuda"


def _syncs_per_step(variant: str, store: str, steps: int = 40) -> float:
    work = TORCH_WORKLOADS["cnn"]().to(DEVICE)
    if variant == "plain":
        ctx: contextlib.AbstractContextManager = contextlib.nullcontext()
    elif variant == "hook_debugger":
        ctx = hook_debugger(work.model)
    else:
        config = variant_config(variant)
        ctx = dl.watch(work.model, work.optimizer, on_fault="continue", config=config, store=store)
    with ctx:
        for i in range(3):
            work.step(i)
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                for i in range(steps):
                    work.step(3 + i)
            finally:
                torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught) / steps


class _NanAfter(nn.Module):
    """Divides by zero from training call ``k`` on."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k, self.calls = k, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
        return x / 0.0 if self.calls >= self.k else x


def _train(model: nn.Module, steps: int, seed: int = 0, opt: torch.optim.Optimizer | None = None) -> None:
    """Adam (or ``opt``) on fixed random data."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 8, generator=gen).to(DEVICE)
    y = torch.randint(0, 3, (256,), generator=gen).to(DEVICE)
    opt = opt or torch.optim.Adam(model.parameters(), lr=1e-2)
    for i in range(steps):
        opt.zero_grad()
        batch = slice(32 * (i % 8), 32 * (i % 8) + 32)
        nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
        opt.step()


def _nan_latency(store: str) -> str:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), _NanAfter(7), nn.Linear(16, 3)).to(DEVICE)
    with dl.watch(model, on_fault="stop", store=store) as run:
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        _train(model, 10, opt=opt)
    updates = int(opt.state[model[0].weight]["step"])  # optimizer updates made before the stop
    first = run.diagnosis.findings[0] if run.diagnosis.findings else None
    if first is None:
        return "no finding (FAILED)"
    where = first.layer.name if first.layer else "-"
    ok = first.step == 7 and where == "2" and str(first.symptom) == "numerical_error"
    # on_fault="stop" ends the loop inside step 7's optimizer.step(), before its update: the fused check runs
    # in the optimizer's pre-step hook, so the NaN gradients are never applied
    stopped = run.stopped_early and updates == 6
    stop = ("stopped before the faulty update" if stopped
            else f"NOT stopped in time after {updates} updates (FAILED)")
    return (f"first finding: {first.symptom} at step {first.step} in layer `{where}` ({first.phase}); "
            f"NaN made at step 7 by layer `2` -> {'latency 0 steps, producer found' if ok else 'FAILED'}; "
            f"on_fault=stop: {stop}")


def _bit_identical(store: str) -> str:
    torch.use_deterministic_algorithms(True)
    results = []
    for watched in (False, True):
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 3))
        model.to(DEVICE)
        ctx = dl.watch(model, on_fault="continue", store=store) if watched else contextlib.nullcontext()
        with ctx:
            _train(model, 60, seed=2)
        results.append([p.detach().clone() for p in model.parameters()])
    torch.use_deterministic_algorithms(False)
    same = all(torch.equal(a, b) for a, b in zip(*results, strict=True))
    verdict = "bit-identical" if same else "DIFFER (FAILED)"
    return f"60 Adam steps, same seed, with and without `dl.watch`: weights {verdict}"


def main(argv: list[str] | None = None) -> int:
    global DEVICE
    args = sys.argv[1:] if argv is None else argv
    DEVICE = args[args.index("--device") + 1] if "--device" in args else "cuda"
    on_gpu = DEVICE.startswith("cuda")
    if on_gpu and not torch.cuda.is_available():
        print("no CUDA device (use --device cpu to run the checks that need none)", file=sys.stderr)
        return 2
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    with tempfile.TemporaryDirectory() as store:
        name = torch.cuda.get_device_name(DEVICE) if on_gpu else "CPU"
        where = "GPU" if on_gpu else "CPU"
        print(f"Device: {name}, torch {torch.__version__}\n")
        if on_gpu:
            plain = _syncs_per_step("plain", store)
            variants = ("ordinary", "default", "stats_step", "hook_debugger")
            rows = [(v, _syncs_per_step(v, store)) for v in variants]
            print("Host synchronisations per training step (CNN workload, 40 steps; plain training's own "
                  f"{plain:.2f} per step subtracted):\n")
            print("| variant | synchronisations per step |\n|---|---:|")
            for variant, count in rows:
                print(f"| {variant} | {count - plain:.2f} |")
        print(f"\nNaN on the {where}: {_nan_latency(store)}\n")
        print(f"Never alters training on the {where}: {_bit_identical(store)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
