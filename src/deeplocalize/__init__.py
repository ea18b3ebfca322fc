"""deeplocalize: find and localize faults in deep-neural-network training.

PyTorch::

    import deeplocalize as dl
    with dl.watch(model, optimizer, on_fault="stop") as run:
        for x, y in loader:
            ...
    print(run.diagnosis)

Keras 3: ``model.fit(x, y, callbacks=[dl.keras.DeepLocalize()])``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deeplocalize.config import Config
from deeplocalize.diagnosis import Diagnosis, Finding, RootCause
from deeplocalize.errors import FaultDetected, StopTraining
from deeplocalize.vocabulary import Category, OnFault, Phase, Symptom, Verdict

if TYPE_CHECKING:
    from deeplocalize.probes.torch import Run

__version__ = "0.1.0"

__all__ = [
    "Category",
    "Config",
    "Diagnosis",
    "FaultDetected",
    "Finding",
    "OnFault",
    "Phase",
    "RootCause",
    "StopTraining",
    "Symptom",
    "Verdict",
    "load_dump",
    "watch",
]


def watch(model: Any, optimizer: Any = None, on_fault: str = "stop", **options: Any) -> Run:
    """Watch a PyTorch model's training inside a ``with`` block; see ``deeplocalize.probes.torch.watch``."""
    from deeplocalize.probes.torch import watch as torch_watch

    return torch_watch(model, optimizer, on_fault=on_fault, **options)


def load_dump(path: Any) -> dict[str, Any]:
    """A batch saved by ``--dump-on-fault`` / ``watch(dump_dir=...)``: ``{"step", "reason", "loss", "model",
    "inputs", "kwargs", "targets", "sample_indices"}``: tensors on the CPU from a torch run
    (``deeplocalize.probes.torch_dump``), numpy arrays from a Keras run (a ``.npz`` file,
    ``deeplocalize.probes.keras_dump``)."""
    if str(path).endswith(".npz"):
        from deeplocalize.probes.keras_dump import load_dump as keras_load_dump

        return keras_load_dump(path)
    from deeplocalize.probes.torch_dump import load_dump as torch_load_dump

    return torch_load_dump(path)


def __getattr__(name: str) -> Any:
    if name == "keras":  # ``dl.keras.DeepLocalize`` without importing keras at ``import deeplocalize``
        import importlib

        return importlib.import_module("deeplocalize.keras")
    raise AttributeError(f"module 'deeplocalize' has no attribute {name!r}")
