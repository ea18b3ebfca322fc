"""The per-hook breakdown of the probe's cost: it times real hooks and puts the probe back as it was."""

from __future__ import annotations

from benchmarks.overhead import breakdown

from deeplocalize.monitor import Monitor
from deeplocalize.probes import torch_hooks


def test_breakdown_times_every_hook_and_restores_the_probe() -> None:
    originals = {key: getattr(*key) for key in breakdown.HOOKS}
    grad_hook, record = torch_hooks.LayerObserver._grad_hook, Monitor.record
    plain_us, medians = breakdown.breakdown("mlp", steps=100)
    assert plain_us > 0
    cheap, full = medians["cheap"], medians["full"]
    assert cheap["optimizer pre-hook (fused check)"] > 0 and cheap["model forward pre-hook"] > 0
    assert cheap[breakdown.LAYERS] == 0 and cheap[breakdown.GRAD_HOOKS] == 0  # no per-layer code
    assert full[breakdown.LAYERS] > 0 and full[breakdown.GRAD_HOOKS] > 0
    assert full["total"] > cheap["total"]
    mean = medians["mean"]
    assert mean["total"] > mean[breakdown.MONITOR] > 0  # the records reach the monitor inside the hooks
    assert {key: getattr(*key) for key in breakdown.HOOKS} == originals
    assert torch_hooks.LayerObserver._grad_hook is grad_hook
    assert Monitor.record is record
