"""PyTorch probe: ``watch(model, optimizer)`` for a training loop, ``instrument(monitor)`` for a whole script.

Both install a ``TorchSession`` (a few global hooks, see ``torch_session``): each model trained gets a
``ModelUnit`` (``torch_unit``) with its own ``Monitor``; ordinary steps run one fused check, statistics
steps and replays of faulty steps run per-layer hooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import torch
from torch import nn

from deeplocalize.config import Config
from deeplocalize.diagnosis import Diagnosis
from deeplocalize.errors import StopTraining
from deeplocalize.monitor import Monitor
from deeplocalize.probes import torch_bare
from deeplocalize.probes.torch_session import TorchSession
from deeplocalize.ranks import tagged
from deeplocalize.vocabulary import OnFault

__all__ = ["Run", "TorchSession", "instrument", "watch"]


class Run:
    """A watched stretch of training; use as a context manager (``with watch(...) as run``).

    After the block: ``run.diagnosis`` (a Diagnosis), ``run.stopped_early``. During it: ``run.log(**metrics)``
    attaches metrics to the latest step, ``run.monitor`` is the engine, ``run.run_id`` the stored run's id
    (None without a store).
    """

    def __init__(self, model: nn.Module | list[torch.Tensor], optimizer: Any = None,
                 on_fault: OnFault | str = OnFault.STOP, *,
                 config: Config | None = None, store: bool | str | Path = True,
                 dump_dir: str | Path | None = None) -> None:
        if isinstance(model, list | tuple) and model and all(isinstance(t, torch.Tensor) for t in model):
            model = torch_bare.BareModel(list(model), torch_bare.variable_names(list(model)))
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"watch() needs a torch.nn.Module or a list of tensors, got {type(model).__name__}")
        if optimizer is None:
            optimizers: tuple[torch.optim.Optimizer, ...] = ()
        elif isinstance(optimizer, torch.optim.Optimizer):
            optimizers = (optimizer,)
        else:
            optimizers = tuple(optimizer)
        self.model = model
        self.optimizers = optimizers
        self.monitor = Monitor("torch", config=config, on_fault=on_fault)
        self.monitor.dump_dir = None if dump_dir is None else Path(dump_dir)
        self.run_id: str | None = None
        self.diagnosis: Diagnosis | None = None
        self.stopped_early = False
        self._session: TorchSession | None = None
        if store is not False:
            self._open_store(store)

    def _open_store(self, store: bool | str | Path) -> None:
        try:
            from deeplocalize.store import RunStore

            writer = RunStore(None if store is True else store).create_run(
                "torch", command=tagged(None), config=self.monitor.config)
            self.monitor.recorder = writer
            self.run_id = writer.run_id
        except Exception as exc:  # a store problem never breaks training
            self.monitor.tool_error("store", exc)

    def __enter__(self) -> Run:
        self._session = TorchSession(self.monitor, model=self.model, optimizers=self.optimizers)
        self._session.install()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if self._session is not None:
            self._session.close(exc)
        stopped = isinstance(exc, StopTraining) or self.monitor.stopped_early
        self.stopped_early = stopped
        self.diagnosis = self.monitor.finish(stopped_early=stopped, completed=exc is None)
        return isinstance(exc, StopTraining)

    def log(self, **metrics: float) -> None:
        """Attach metrics the probe cannot see (e.g. validation accuracy) to the latest step."""
        self.monitor.log(**metrics)

    @property
    def session(self) -> TorchSession | None:
        return self._session


def watch(model: nn.Module | list[torch.Tensor], optimizer: Any = None, on_fault: OnFault | str = "stop",
          *, config: Config | None = None, store: bool | str | Path = True,
          dump_dir: str | Path | None = None) -> Run:
    """Watch ``model``'s training inside a ``with`` block (``model``: a module, or the list of tensors a
    from-scratch loop trains, ``[w, b]``: one layer per tensor, named after the caller's variables).

    ``optimizer``: one optimizer or several (optional: any optimizer stepping inside the block is seen).
    ``on_fault``: "stop" (end the loop cleanly; code after the block runs), "raise" (FaultDetected),
    "warn", "continue". ``store``: True records the run in the default store, a path picks the store,
    False keeps it in memory only. ``dump_dir``: save the inputs of a step with NaN/Inf or a loss spike
    there (``deeplocalize.load_dump`` reads them back; the findings of that step name the file).
    """
    return Run(model, optimizer, on_fault, config=config, store=store, dump_dir=dump_dir)


@contextmanager
def instrument(monitor: Monitor, max_steps: int | None = None) -> Iterator[TorchSession]:
    """Global instrumentation of every torch module and optimizer (for scripts that never mention us).

    Keras layers are left to the Keras probe. Reaching ``max_steps`` raises ``errors.StopTraining`` (so does
    the "stop" policy; ``monitor.stopped_early`` is then True). The partial step of a crash is recorded on
    exit. The caller calls ``monitor.finish()``.
    """
    session = TorchSession(monitor, max_steps=max_steps)
    session.install()
    error: BaseException | None = None
    try:
        yield session
    except BaseException as exc:
        error = exc
        raise
    finally:
        session.close(error)
