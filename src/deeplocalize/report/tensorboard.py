"""TensorBoard event files: per-layer statistics as scalars, loss and metrics, findings and fixes as text.

Written with TensorBoard's own event writer and protos (``pip install deeplocalize[tensorboard]``; no
TensorFlow needed), so ``tensorboard --logdir DIR`` and its ``EventAccumulator`` read them. Tags:

- ``loss`` (NaN once the loss turned NaN), ``lr``, ``metrics/<name>``
- ``layer/<name>/<channel>/<stat>``, channel one of forward, input, backward (gradient w.r.t. the output),
  weight_grad, weights, update; stat one of ``STATS_WRITTEN`` (values that were not measured are skipped)
- ``findings`` (text, at each finding's step) and ``diagnosis`` (text, at the last step): verdict, fixes
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from deeplocalize import summary
from deeplocalize.atomic_io import staging_dir
from deeplocalize.diagnosis import Diagnosis, Finding
from deeplocalize.model import ModelInfo
from deeplocalize.report._data import CHANNEL_LABEL, collect, layer_list, nan_tail
from deeplocalize.trace import Trace

#: Statistics written per (layer, channel); ``numel`` is left out (constant).
STATS_WRITTEN: tuple[str, ...] = ("nonfinite", "min", "max", "mean", "std", "zero_frac", "norm",
                                  "dead_frac", "sat_frac")


def write_tensorboard(logdir: str | Path, trace: Trace | None, diagnosis: Diagnosis,
                      model: ModelInfo | None = None) -> Path:
    """Write one event file for this run into ``logdir`` and return the event file's path."""
    try:
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise ImportError("TensorBoard output needs the `tensorboard` package: "
                          "pip install 'deeplocalize[tensorboard]'") from exc
    from tensorboard.compat.proto.event_pb2 import Event

    logdir = Path(logdir)
    with staging_dir(logdir) as stage:  # the event file appears in logdir only once complete
        writer = EventFileWriter(str(stage), filename_suffix=".deeplocalize")
        wall = time.time()
        try:
            last_step = 0
            if trace is not None and trace.steps_observed:
                series = collect(trace)
                names = {layer.index: layer.name for layer in layer_list(diagnosis, model, trace)}
                tags = {key: f"layer/{_clean(names.get(key[0], f'layer_{key[0]}'))}/"
                             f"{CHANNEL_LABEL[str(key[1])]}" for key in series.stats}
                columns = [summary.IDX[s] for s in STATS_WRITTEN]
                nan_loss = nan_tail(series.loss)
                for row, step in enumerate(series.steps):
                    values = []
                    scalars: list[tuple[str, float]] = [("loss", series.loss[row]), ("lr", series.lr[row])]
                    scalars += [(f"metrics/{_clean(n)}", v[row]) for n, v in series.metrics.items()]
                    for key, mat in series.stats.items():
                        vec = mat[row]
                        if math.isnan(vec[summary.NUMEL]):
                            continue  # not recorded at this step
                        scalars += [(f"{tags[key]}/{STATS_WRITTEN[j]}", vec[c])
                                    for j, c in enumerate(columns)]
                    if nan_loss[row]:
                        values.append(Summary.Value(tag="loss", simple_value=math.nan))
                    for tag, value in scalars:
                        if not np.isnan(value):  # NaN: not measured; +/-Inf is a real value and is kept
                            values.append(Summary.Value(tag=tag, simple_value=float(value)))
                    if values:
                        writer.add_event(Event(wall_time=wall, step=int(step), summary=Summary(value=values)))
                last_step = int(series.steps[-1]) if len(series) else 0
            for finding in diagnosis.findings:
                writer.add_event(_text_event("findings", _finding_md(finding), finding.step, wall))
            last_step = max([last_step, diagnosis.steps_observed, *(f.step for f in diagnosis.findings)])
            writer.add_event(_text_event("diagnosis", _diagnosis_md(diagnosis), last_step, wall))
        finally:
            writer.close()
        created = sorted(p.name for p in stage.glob("events.out.tfevents.*.deeplocalize"))
    return logdir / created[-1] if created else logdir


def _clean(name: str) -> str:
    """A tag component: no spaces or slashes inside a layer or metric name."""
    return "".join("_" if ch.isspace() or ch == "/" else ch for ch in name) or "_"


def _text_event(tag: str, text: str, step: int, wall: float) -> Any:
    """A text-plugin summary event (rendered as Markdown by TensorBoard's Text tab)."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.text.metadata import create_summary_metadata
    from tensorboard.util.tensor_util import make_tensor_proto

    value = Summary.Value(tag=tag, metadata=create_summary_metadata(display_name=tag, description=""),
                              tensor=make_tensor_proto(text.encode("utf-8")))
    return Event(wall_time=wall, step=int(step), summary=Summary(value=[value]))


def _finding_md(finding: Finding) -> str:
    where = f" in layer `{finding.layer.name}` ({finding.layer.type}, #{finding.layer.index})" \
        if finding.layer is not None else ""
    return f"**{finding.symptom}** ({finding.phase}){where} at step {finding.step}: {finding.message}"


def _diagnosis_md(diagnosis: Diagnosis) -> str:
    lines = [f"**verdict: {diagnosis.verdict}** after {diagnosis.steps_observed} steps"
             + (" (training stopped early)" if diagnosis.stopped_early else ""), ""]
    if diagnosis.root_causes:
        lines += ["| # | category | layer | confidence | fix |", "|---|---|---|---|---|"]
        for i, cause in enumerate(diagnosis.root_causes, 1):
            layer = f"`{cause.layer.name}`" if cause.layer is not None else "-"
            fix = cause.fix.replace("|", "\\|")
            lines.append(f"| {i} | {cause.category} | {layer} | {cause.confidence:.2f} | {fix} |")
    for error in diagnosis.tool_errors:
        lines.append(f"- tool error: `{error}`")
    return "\n".join(lines)
