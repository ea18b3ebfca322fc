"""The dump rule: a NaN/Inf step and the first step of a loss spike are saved, nothing else; file names."""

from __future__ import annotations

from pathlib import Path

from deeplocalize.config import Config
from deeplocalize.dumps import DumpRule, dump_path


def test_a_non_finite_step_and_the_first_step_of_a_spike_are_saved() -> None:
    rule = DumpRule(Config())
    quiet = [rule.reason(1.0 + 0.01 * (k % 3)) for k in range(40)]
    assert quiet == [None] * 40
    assert rule.reason(50.0) == "loss spike"
    assert rule.reason(50.0) is None  # the spike goes on: its first step was saved
    assert rule.reason(float("nan")) == "non-finite values"
    assert rule.reason(1.0, finite=False) == "non-finite values"  # a NaN gradient with a finite loss


def test_dump_file_names_are_safe() -> None:
    assert dump_path(Path("d"), "gen/disc model", 7, ".pt") == Path("d") / "gen_disc_model-step7.pt"
    assert dump_path(Path("d"), "", 1, ".npz").name == "model-step1.npz"
