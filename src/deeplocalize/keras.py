"""Keras 3 entry point: ``model.fit(x, y, callbacks=[deeplocalize.keras.DeepLocalize()])``.

Importing this module imports Keras (the backend must be chosen before, as for Keras itself).
"""

from __future__ import annotations

from deeplocalize.probes.keras import instrument
from deeplocalize.probes.keras_callback import DeepLocalize

__all__ = ["DeepLocalize", "instrument"]
