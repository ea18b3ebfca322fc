"""``--dump-on-fault DIR`` / ``watch(dump_dir=...)``: the inputs of a faulty or spiking step, saved.

One file per step, ``<model>-step<N>.pt``, written atomically with ``torch.save`` before the optimizer
updates, holding plain tensors (detached copies on the CPU) in plain containers, so that
``deeplocalize.load_dump(path)`` (``torch.load(weights_only=True)``) reads it back:
``{"step", "reason", "loss", "model", "inputs": [[positional tensors of each forward call]],
"kwargs": [{name: tensor}], "targets": [tensors given to the loss functions], "sample_indices": [dataset
indices of the batch] or None}`` (indices from a single-process DataLoader's sampler, ``torch_samples``).
At most ``MAX_DUMPS`` files per model, so a run that spikes again and again cannot fill the disk.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from deeplocalize.atomic_io import write_atomic
from deeplocalize.dumps import dump_path
from deeplocalize.probes.torch_hooks import iter_tensors


def dump_step(directory: Path, model: str, step: int, reason: str, loss: float | None,
              calls: list[tuple[tuple, dict | None]], targets: list[torch.Tensor],
              sample_indices: list[int] | None = None) -> Path:
    """Save one step's forward inputs and loss targets; returns the file written."""
    def cpu(t: torch.Tensor) -> torch.Tensor:
        return t.detach().to("cpu", copy=True)

    payload: dict[str, Any] = {
        "step": int(step), "reason": reason, "loss": loss, "model": model,
        "inputs": [[cpu(t) for t in iter_tensors(args)] for args, _ in calls],
        "kwargs": [{k: cpu(v) for k, v in (kwargs or {}).items() if isinstance(v, torch.Tensor)}
                   for _, kwargs in calls],
        "targets": [cpu(t) for t in targets],
        "sample_indices": None if sample_indices is None else [int(i) for i in sample_indices],
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return write_atomic(dump_path(directory, model, step, ".pt"), buffer.getvalue())


def load_dump(path: str | Path) -> dict[str, Any]:
    """A dump written by ``dump_step``, read back (tensors only: safe to load)."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)
