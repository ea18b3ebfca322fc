"""``--dump-on-fault DIR``, framework-free: which steps' batches are saved, how many, and under what name
(the torch probe's ``probes/torch_dump`` and the Keras callback's ``probes/keras_dump`` write them)."""

from __future__ import annotations

import math
import re
from pathlib import Path

from deeplocalize.config import Config
from deeplocalize.spikes import OnlineSpikes

#: Dumps per model and run (own choice: the first few faulty steps say what the batch looked like).
MAX_DUMPS = 8


def dump_path(directory: Path, model: str, step: int, suffix: str) -> Path:
    """``<directory>/<model>-step<N><suffix>``, the model's name made safe for a file name."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", model) or "model"
    return Path(directory) / f"{safe}-step{int(step)}{suffix}"


class DumpRule:
    """The steps whose batch is saved: one with NaN/Inf, and the first step of a loss spike (the rule of
    ``deeplocalize.spikes``, judged on every step's loss)."""

    def __init__(self, config: Config) -> None:
        self.spikes = OnlineSpikes(config)

    def reason(self, loss: float | None, finite: bool = True) -> str | None:
        """Why this step's batch is saved ("non-finite values", "loss spike"), or None; ``finite``: whether
        everything the step measured was finite (a non-finite loss counts as not finite either way)."""
        spiking = self.spikes.observe(loss) and self.spikes.streak == 1
        if not finite or (loss is not None and not math.isfinite(loss)):
            return "non-finite values"
        return "loss spike" if spiking else None
