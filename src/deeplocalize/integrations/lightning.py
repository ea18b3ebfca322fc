"""PyTorch Lightning: ``Trainer(callbacks=[DeepLocalizeCallback()])``, then ``callback.diagnosis``.

Needs ``lightning`` (``pip install 'deeplocalize[lightning]'``). The callback watches the LightningModule
with the torch probe from the start of ``fit`` to its end; on a confirmed fault, ``on_fault="stop"`` sets
``trainer.should_stop`` (Lightning ends the epoch loop cleanly), "raise" raises
``deeplocalize.FaultDetected``, "warn" warns once per finding, "continue" records silently.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl

from deeplocalize.compat.torch import DATA_PARALLEL
from deeplocalize.integrations._session import WatchingCallback
from deeplocalize.vocabulary import OnFault


class DeepLocalizeCallback(WatchingCallback, pl.Callback):
    """Watch a Lightning ``fit`` and localize faults. After ``fit``, ``.diagnosis`` holds the result.

    ``store``: persist the run in the run store (True: default store; a path: that store; False: nowhere).
    ``html``: also write the HTML report there at the end of training. ``watch_options`` go to
    ``deeplocalize.probes.torch.watch``.
    """

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        optimizers = list(getattr(trainer, "optimizers", None) or [])
        wrapped = getattr(trainer.strategy, "model", None)  # strategy="ddp": the DistributedDataParallel
        model = wrapped if isinstance(wrapped, DATA_PARALLEL) else pl_module
        self._session.start(model, optimizers[0] if len(optimizers) == 1 else None)

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
