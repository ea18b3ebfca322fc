"""The per-hook breakdown of the probe's cost: it times real hooks and puts the session back as it was."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.overhead import breakdown  # noqa: E402

from deeplocalize.monitor import Monitor  # noqa: E402
from deeplocalize.probes import torch_collector, torch_session  # noqa: E402


def test_breakdown_times_every_hook_and_restores_the_session() -> None:
    originals = {name: getattr(torch_session.TorchSession, name) for name in breakdown.HOOKS}
    grad_hook, record = torch_collector.TorchCollector._grad_hook, Monitor.record
    plain_us, medians = breakdown.breakdown("mlp", steps=100)
    assert plain_us > 0
    cheap, full = medians["cheap"], medians["full"]
    assert cheap["forward hooks"] > 0 and cheap["optimizer hook (step end)"] > 0
    assert full["total"] > cheap["total"]  # full statistics cost more than the every-step flags
    # the MLP's Linear layers have biases: their output gradients are hooked on full-statistics steps only
    assert cheap[breakdown.GRAD_HOOKS] == 0 and full[breakdown.GRAD_HOOKS] > 0
    mean = medians["mean"]
    assert mean["total"] > mean[breakdown.MONITOR] > 0  # the records reach the monitor inside the hooks
    assert {name: getattr(torch_session.TorchSession, name) for name in breakdown.HOOKS} == originals
    assert torch_collector.TorchCollector._grad_hook is grad_hook
    assert Monitor.record is record
