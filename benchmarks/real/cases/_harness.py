"""The few lines a ported real-world program takes from the benchmark (it never mentions deeplocalize).

A case script is an ordinary training program; the benchmark runs it as ``python <id>.py`` (premise check)
or ``deeplocalize run <id>.py`` (evaluation) with these environment variables:

- ``DL_REAL_VARIANT``: "buggy" or "fixed" (bug cases), "healthy" (healthy programs); default "healthy";
- ``DL_REAL_SEED``: the seed (default 0);
- ``DL_REAL_OUTCOME``: where ``report`` writes the outcome as JSON (unset: it only prints it);
- ``DL_REAL_CALLBACK``: "1" when the run should use deeplocalize's Lightning / Hugging Face callback
  instead of ``deeplocalize run`` (``callbacks`` returns it; see the README of benchmarks/real), and
  ``DL_REAL_CALLBACK_JSON`` where ``report`` then writes the callback's diagnosis.

The script's directory is on ``sys.path`` in both cases, so ``import _harness`` works without set-up.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
from collections.abc import Iterable
from typing import Any

VARIANTS = ("buggy", "fixed", "healthy")
_callbacks: list[Any] = []  # the deeplocalize callbacks handed out (their diagnosis is written by ``report``)


def variant() -> str:
    """The variant to train: "buggy", "fixed" or "healthy"."""
    value = os.environ.get("DL_REAL_VARIANT", "healthy")
    if value not in VARIANTS:
        raise SystemExit(f"DL_REAL_VARIANT must be one of {', '.join(VARIANTS)}, not {value!r}")
    return value


def buggy() -> bool:
    """True when the buggy variant runs (the line marked ``# the bug`` reads this)."""
    return variant() == "buggy"


def seed() -> int:
    return int(os.environ.get("DL_REAL_SEED", "0"))


def seed_everything(value: int | None = None) -> int:
    """Seed Python, numpy and whichever of torch / keras the script imported; returns the seed."""
    value = seed() if value is None else value
    random.seed(value)
    try:
        import numpy as np

        np.random.seed(value)
    except ImportError:
        pass
    if "keras" in sys.modules:
        import keras

        if "tensorflow" in sys.modules:
            keras.utils.set_random_seed(value)  # seeds Python, numpy, TensorFlow and the backend (torch here)
        else:
            _seed_keras_without_tensorflow(keras, value)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(value)
    return value


def _seed_keras_without_tensorflow(keras: Any, value: int) -> None:
    """What ``keras.utils.set_random_seed`` does, but without importing TensorFlow (4 s of start-up per run)
    when the program does not use it: Keras's global seed (its ``SeedGenerator`` is recreated from it) and the
    backend's. Falls back to Keras's own function where its internals moved."""
    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED
    except ImportError:
        keras.utils.set_random_seed(value)
        return
    global_state.set_global_attribute(GLOBAL_RANDOM_SEED, value)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(value)


def callbacks(framework: str) -> list[Any]:
    """deeplocalize's callback for ``framework`` ("lightning" or "huggingface") when ``DL_REAL_CALLBACK=1``,
    else nothing: the same program then runs under ``deeplocalize run``'s global hooks."""
    if os.environ.get("DL_REAL_CALLBACK") != "1":
        return []
    if framework == "lightning":
        from deeplocalize.integrations.lightning import DeepLocalizeCallback
    elif framework == "huggingface":
        from deeplocalize.integrations.huggingface import DeepLocalizeCallback
    else:
        raise ValueError(f"no callback for {framework!r}")
    _callbacks.append(DeepLocalizeCallback(store=False))
    return [_callbacks[-1]]


def keras_loss_log() -> Any:
    """A Keras callback keeping every training batch's loss in ``.losses`` (for ``report``); pass it to
    ``fit``."""
    import keras

    class LossLog(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.losses: list[float] = []

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            self.losses.append(float((logs or {})["loss"]))

    return LossLog()


def report(*, metric: float, metric_name: str, chance: float, losses: Iterable[float] = (),
           nan: bool | None = None, **extra: Any) -> dict[str, Any]:
    """Print and (with ``DL_REAL_OUTCOME``) write the program's outcome.

    ``metric``: the program's own held-out measure (accuracy, micro-F1, R^2, or for generative models a
    score where higher is better, e.g. minus the validation loss); ``chance``: what a model that ignores its
    input reaches on it; ``losses``: the training losses seen (their last tenth gives ``loss``); ``nan``:
    whether the loss or the weights became non-finite (default: any non-finite loss or metric).
    """
    losses = [float(v) for v in losses]
    if nan is None:
        nan = not all(math.isfinite(v) for v in losses) or not math.isfinite(float(metric))
    tail = losses[-max(1, len(losses) // 10):] if losses else []
    outcome = {
        "metric": float(metric) if math.isfinite(float(metric)) else str(float(metric)),
        "metric_name": metric_name,
        "chance": float(chance),
        "loss": (sum(tail) / len(tail)) if tail and all(math.isfinite(v) for v in tail) else None,
        "nan": bool(nan),
        "variant": variant(),
        "seed": seed(),
        **extra,
    }
    print("outcome:", json.dumps(outcome))
    path = os.environ.get("DL_REAL_OUTCOME")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(outcome, fh)
    report_path = os.environ.get("DL_REAL_CALLBACK_JSON")
    diagnosis = getattr(_callbacks[-1], "diagnosis", None) if _callbacks else None
    if report_path and diagnosis is not None:
        diagnosis.save_json(report_path)
    return outcome
