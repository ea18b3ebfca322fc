"""The tools compared by the benchmark: deeplocalize and the baselines, each scored the same way.

Most tools are rule sets replayed over the captured records (``benchmarks.replay``); anomaly mode needs a
run of its own (``benchmarks.collect --mode anomaly``).
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.baselines.autotrainer import AUTOTRAINER
from benchmarks.baselines.deepdiagnosis import DEEPDIAGNOSIS
from benchmarks.baselines.deeplocalize2021 import DEEPLOCALIZE_2021
from benchmarks.baselines.keras_builtins import EARLY_STOPPING, KERAS_BUILTINS, TERMINATE_ON_NAN
from deeplocalize.detectors import Detector


@dataclass(frozen=True)
class Tool:
    """A row of the table. ``how``: "deeplocalize" (the online diagnosis at default settings), "callback"
    (the same through a trainer callback), "rules" (replayed) or "anomaly". A tool that never names a
    root cause or a layer shows n/a in those columns."""

    name: str
    how: str
    description: str
    detectors: tuple[Detector, ...] = ()
    frameworks: tuple[str, ...] = ("torch", "keras")
    names_cause: bool = True
    names_layer: bool = True


TOOLS: tuple[Tool, ...] = (
    Tool("deeplocalize", "deeplocalize", "this project, as a user runs it: `deeplocalize run` at default "
         "settings (policy stop), scored on the diagnosis it reached online"),
    Tool("deeplocalize (callback)", "callback", "the same through its Lightning / Hugging Face callback, "
         "on the real-world programs that train with one"),
    Tool("DeepLocalize-2021", "rules", "ICSE'21 callback rules: NaN/Inf, zero mean, unchanged 5 batches",
         tuple(DEEPLOCALIZE_2021), names_cause=False),
    Tool("DeepDiagnosis", "rules", "ICSE'22: 8 epoch-end symptoms + fix decision procedure",
         tuple(DEEPDIAGNOSIS)),
    Tool("AUTOTRAINER", "rules", "ICSE'21: gradient / accuracy problem checks + repair order",
         tuple(AUTOTRAINER), names_layer=False),
    Tool("TerminateOnNaN", "rules", "Keras TerminateOnNaN (same rule on the loss for torch)",
         tuple(TERMINATE_ON_NAN), names_cause=False, names_layer=False),
    Tool("EarlyStopping", "rules", "Keras EarlyStopping(monitor='loss', patience=1)", tuple(EARLY_STOPPING),
         names_cause=False, names_layer=False),
    Tool("Keras built-ins", "rules", "TerminateOnNaN + EarlyStopping together (the 2021 paper's baseline)",
         tuple(KERAS_BUILTINS), names_cause=False, names_layer=False),
    Tool("detect_anomaly", "anomaly", "torch.autograd.detect_anomaly (separate run; torch programs)",
         frameworks=("torch",), names_cause=False, names_layer=False),
)


def tool_names() -> list[str]:
    return [tool.name for tool in TOOLS]
