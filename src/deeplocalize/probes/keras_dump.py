"""``dump_dir`` for Keras (``DeepLocalize(dump_dir=...)``, ``deeplocalize run --dump-on-fault`` on a Keras
script): the batch of a step whose loss turned NaN/Inf or spiked, saved.

Keras gives callbacks no access to the batch, but under the torch backend ``train_step`` runs eagerly, once
per step, with the batch: while a dump directory is set, the model's ``train_step`` is wrapped (on the
instance, removed at the end of ``fit``) to hold a reference to the step's batch until the step ends. The
file, ``<model>-step<N>.npz`` (numpy, written atomically), holds ``x0, x1, ...`` (the inputs), ``y0, ...``
(the targets) and ``meta`` (a JSON string: step, reason, loss, model); ``deeplocalize.load_dump`` reads it
back as ``{"step", "reason", "loss", "model", "inputs", "kwargs", "targets", "sample_indices"}`` like a torch
dump. Under TensorFlow and JAX ``train_step`` is compiled and never sees a concrete batch: no dump (the
finding says where the step is). At most ``MAX_DUMPS`` files per run.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from deeplocalize.atomic_io import write_atomic
from deeplocalize.dumps import MAX_DUMPS, DumpRule, dump_path
from deeplocalize.probes.keras_facts import to_numpy


def _arrays(value: Any) -> list[np.ndarray]:
    """The arrays of a (possibly nested) batch structure, in order; non-arrays are left out."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [a for k in sorted(value) for a in _arrays(value[k])]
    if isinstance(value, list | tuple):
        return [a for v in value for a in _arrays(v)]
    return [to_numpy(value)] if hasattr(value, "shape") else []


class BatchKeeper:
    """Holds the batch of the running step (torch backend) and saves it on request."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.batch: Any = None
        self.saved = 0
        self._model: Any = None

    def install(self, model: Any) -> None:
        import keras

        if keras.backend.backend() != "torch":
            return
        original = type(model).train_step.__get__(model)
        keeper = self

        def train_step(data: Any) -> Any:
            keeper.batch = data
            return original(data)

        model.__dict__["train_step"] = train_step
        self._model = model

    def remove(self) -> None:
        if self._model is not None:
            self._model.__dict__.pop("train_step", None)
            self._model = None
        self.batch = None

    def save(self, model_name: str, step: int, reason: str, loss: float | None) -> Path | None:
        """Write the held batch; None when there is none (not the torch backend) or enough were saved."""
        if self.batch is None or self.saved >= MAX_DUMPS:
            return None
        import keras

        x, y, _ = keras.utils.unpack_x_y_sample_weight(self.batch)
        arrays = {f"x{i}": a for i, a in enumerate(_arrays(x))}
        arrays |= {f"y{i}": a for i, a in enumerate(_arrays(y))}
        meta = {"step": int(step), "reason": reason, "loss": loss, "model": model_name}
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
        path = write_atomic(dump_path(self.directory, model_name, step, ".npz"), buffer.getvalue())
        self.saved += 1
        return path


def _numbered(data: Any, prefix: str) -> list[np.ndarray]:
    names = [k for k in data.files if k.startswith(prefix) and k[1:].isdigit()]
    names.sort(key=lambda k: int(k[1:]))
    return [data[k] for k in names]


def load_dump(path: str | Path) -> dict[str, Any]:
    """A Keras dump read back (numpy arrays; no pickle)."""
    with np.load(Path(path), allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        inputs, targets = _numbered(data, "x"), _numbered(data, "y")
    return {**meta, "inputs": [inputs], "kwargs": [{}], "targets": targets, "sample_indices": None}


class BatchDumps:
    """The dumps of one ``fit``: the batch of each step ``DumpRule`` picks, saved before the monitor judges
    the step, so its finding names it."""

    def __init__(self, keeper: BatchKeeper, monitor: Any, name: str) -> None:
        self.keeper, self.monitor, self.name = keeper, monitor, name
        self.rule = DumpRule(monitor.config)

    @classmethod
    def start(cls, model: Any, monitor: Any) -> BatchDumps | None:
        """Dumps for ``model``'s ``fit`` when the monitor has a dump directory (else None)."""
        if monitor.dump_dir is None:
            return None
        keeper = BatchKeeper(monitor.dump_dir)
        try:
            keeper.install(model)
        except Exception as exc:  # never into training
            monitor.tool_error("keras dump", exc)
            return None
        return cls(keeper, monitor, str(getattr(model, "name", "model")))

    def after_step(self, step: int, loss: float | None) -> None:
        try:
            reason = self.rule.reason(loss)
            if reason is not None:
                path = self.keeper.save(self.name, step, reason, loss)
                if path is not None:
                    self.monitor.dumps[step] = str(path)
        except Exception as exc:  # a full disk: a tool error, training goes on
            self.monitor.tool_error("dump", exc)
        finally:
            self.keeper.batch = None

    def stop(self) -> None:
        self.keeper.remove()
