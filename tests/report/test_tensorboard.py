"""TensorBoard output, read back with TensorBoard's own EventAccumulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _report_sample import NAN_STEP, build

from deeplocalize.vocabulary import Channel

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (
    EventAccumulator,
    TensorEvent,
)
from tensorboard.util.tensor_util import make_ndarray

from deeplocalize.report.tensorboard import write_tensorboard


def _load(logdir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def _text(event: TensorEvent) -> str:
    return make_ndarray(event.tensor_proto).item().decode("utf-8")


def test_scalars_and_text_round_trip(tmp_path: Path) -> None:
    diagnosis, trace, model = build()
    path = write_tensorboard(tmp_path / "tb", trace, diagnosis, model)
    assert path.is_file() and path.parent == tmp_path / "tb"
    acc = _load(tmp_path / "tb")
    tags = acc.Tags()
    assert {"loss", "lr", "metrics/accuracy", "layer/fc2/forward/mean", "layer/fc2/weights/norm",
            "layer/fc2/backward/norm", "layer/fc2/update/norm"} <= set(tags["scalars"])

    loss = acc.Scalars("loss")  # NaN loss steps are written (a NaN loss is the evidence)
    assert [e.step for e in loss] == list(range(1, 31))
    assert np.isnan(loss[-1].value) and loss[0].value == pytest.approx(trace.loss()[0], rel=1e-6)

    mean = acc.Scalars("layer/fc2/forward/mean")
    assert [e.step for e in mean] == list(range(1, 31))
    expected = trace.series(2, Channel.OUTPUT, "mean")
    assert np.allclose([e.value for e in mean], expected, rtol=1e-5, equal_nan=True)
    nonfinite = {e.step: e.value for e in acc.Scalars("layer/fc2/forward/nonfinite")}
    assert nonfinite[NAN_STEP - 1] == 0 and nonfinite[NAN_STEP] > 0
    # ReLU layers have no weights: no weight tags for them, and unmeasured stats are skipped, not zero
    assert "layer/act1/weights/mean" not in tags["scalars"]
    assert "layer/fc1/weights/dead_frac" not in tags["scalars"]

    findings = acc.Tensors("findings")
    assert [e.step for e in findings] == [f.step for f in diagnosis.findings]
    assert "numerical_error" in _text(findings[1]) and "`fc2`" in _text(findings[1])
    summary = acc.Tensors("diagnosis")
    assert len(summary) == 1 and "verdict: faulty" in _text(summary[0])
    assert diagnosis.root_causes[0].fix in _text(summary[0])


def test_without_trace_writes_findings_only(tmp_path: Path) -> None:
    diagnosis, _, _ = build()
    write_tensorboard(tmp_path, None, diagnosis)
    acc = _load(tmp_path)
    assert acc.Tags()["scalars"] == []
    assert len(acc.Tensors("findings")) == len(diagnosis.findings)


def test_two_runs_in_one_logdir_are_two_files(tmp_path: Path) -> None:
    diagnosis, trace, model = build(steps=20)
    first = write_tensorboard(tmp_path, trace, diagnosis, model)
    second = write_tensorboard(tmp_path, trace, diagnosis, model)
    assert first != second and first.is_file() and second.is_file()
