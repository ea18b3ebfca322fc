"""Hugging Face ``transformers``: ``Trainer(..., callbacks=[DeepLocalizeCallback()])``, then ``.diagnosis``.

Needs ``transformers`` with ``accelerate`` (``pip install 'deeplocalize[huggingface]'``). The callback
watches the model with the torch probe from ``on_train_begin`` to ``on_train_end`` (the Trainer's
optimizer is found at its first step); on a confirmed fault, ``on_fault="stop"`` sets
``control.should_training_stop``, "raise" raises ``deeplocalize.FaultDetected``, "warn" warns once per
finding, "continue" records silently.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from deeplocalize.integrations._session import WatchingCallback
from deeplocalize.vocabulary import OnFault


class DeepLocalizeCallback(WatchingCallback, TrainerCallback):
    """Watch a ``Trainer.train`` and localize faults. After training, ``.diagnosis`` holds the result.

    ``store``: persist the run in the run store (True: default store; a path: that store; False: nowhere).
    ``html``: also write the HTML report there at the end of training. ``watch_options`` go to
    ``deeplocalize.probes.torch.watch``.
    """

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       model: Any = None, optimizer: Any = None, **kwargs: Any) -> None:
        if model is not None:
            self._session.start(model, optimizer)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        if self._session.poll() == OnFault.STOP:
            control.should_training_stop = True

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        """Evaluation metrics (``eval_loss``, ``eval_accuracy``...) go into the trace as metrics."""
        monitor = self._session.monitor
        if monitor is None or not logs:
            return
        metrics = {_metric_name(k): v for k, v in logs.items()
                   if k.startswith("eval_") and isinstance(v, (int, float)) and not k.endswith(
                       ("_runtime", "_samples_per_second", "_steps_per_second"))}
        if metrics:
            monitor.log(**metrics)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        self.diagnosis = self._session.finish_with_report(None, self.html)


def _metric_name(key: str) -> str:
    """HF ``eval_loss`` -> ``val_loss`` (the trace's name for validation metrics)."""
    return "val_" + key[len("eval_"):]
