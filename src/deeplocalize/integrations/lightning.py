"""PyTorch Lightning: ``Trainer(callbacks=[DeepLocalizeCallback()])``, then ``callback.diagnosis``.

Needs ``lightning`` (``pip install 'deeplocalize[lightning]'``). The callback watches the LightningModule
with the torch probe from the start of ``fit`` to its end; on a confirmed fault, ``on_fault="stop"`` sets
``trainer.should_stop`` (Lightning ends the epoch loop cleanly), "raise" raises
``deeplocalize.FaultDetected``, "warn" warns once per finding, "continue" records silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from deeplocalize.config import Config
from deeplocalize.diagnosis import Diagnosis
from deeplocalize.integrations._session import ProbeSession
from deeplocalize.vocabulary import OnFault


class DeepLocalizeCallback(pl.Callback):
    """Watch a Lightning ``fit`` and localize faults. After ``fit``, ``.diagnosis`` holds the result.

    ``store``: persist the run in the run store (True: default store; a path: that store; False: nowhere).
    ``html``: also write the HTML report there at the end of training. ``watch_options`` go to
    ``deeplocalize.probes.torch.watch``.
    """

    def __init__(self, on_fault: str = "stop", *, config: Config | None = None, store: Any = True,
                 html: str | Path | None = None, **watch_options: Any) -> None:
        super().__init__()
        self.on_fault = OnFault(on_fault)
        self.html = html
        self._session = ProbeSession(on_fault, config=config, store=store, **watch_options)
        self.diagnosis: Diagnosis | None = None

    @property
    def monitor(self) -> Any:
        """The live monitor while training runs (None otherwise)."""
        return self._session.monitor

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        optimizers = list(getattr(trainer, "optimizers", None) or [])
        self._session.start(pl_module, optimizers[0] if len(optimizers) == 1 else None)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        if self._session.poll() == OnFault.STOP:
            trainer.should_stop = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._finish(None)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     exception: BaseException) -> None:
        if self._session.active:
            self._finish(exception)

    def _finish(self, exc: BaseException | None) -> None:
        self.diagnosis = self._session.finish_with_report(exc, self.html)
