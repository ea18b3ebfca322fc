"""The Keras callback on the TensorFlow backend, in a subprocess (a Keras backend is fixed at import).

Runs when tensorflow is importable; ``DEEPLOCALIZE_TEST_TF=0`` skips, ``=1`` makes a missing tensorflow a
failure (CI installs tensorflow-cpu). One subprocess runs every scenario (TensorFlow imports in seconds).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import _keras_scenarios as sc  # noqa: E402

FLAG = os.environ.get("DEEPLOCALIZE_TEST_TF", "")
if FLAG == "0":
    pytest.skip("DEEPLOCALIZE_TEST_TF=0", allow_module_level=True)
if importlib.util.find_spec("tensorflow") is None:
    if FLAG == "1":
        raise RuntimeError("DEEPLOCALIZE_TEST_TF=1 but tensorflow is missing (pip install tensorflow-cpu)")
    pytest.skip("tensorflow is not installed", allow_module_level=True)

_PRELUDE = (
    "import sys, runpy, tensorflow as tf\n"
    "tf.config.threading.set_intra_op_parallelism_threads(1)\n"
    "tf.config.threading.set_inter_op_parallelism_threads(1)\n"
    f"sys.argv = [{str(HERE / '_keras_scenarios.py')!r}] + sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    names = ["trace", "unaltered", *sc.SCENARIOS]
    out = subprocess.run([sys.executable, "-c", _PRELUDE, *names], capture_output=True, text=True, env=env,
                         timeout=900, cwd=HERE)
    found = {}
    for line in out.stdout.splitlines():
        if line.startswith("SCENARIO "):
            item = json.loads(line[len("SCENARIO "):])
            found[item["scenario"]] = item
    assert found, out.stderr[-3000:]
    return found


def _get(results: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    item = results.get(name)
    assert item is not None, f"{name} did not report"
    assert "error" not in item, item["error"]
    return item


def test_tf_trace(results: dict[str, dict[str, Any]]) -> None:
    item = _get(results, "trace")
    n = item["per_epoch"]
    assert item["steps"] == list(range(1, 2 * n + 1))
    assert item["epoch0_mean_loss"] == pytest.approx(item["keras_epoch0_loss"], rel=1e-4)
    assert item["val_loss"] == pytest.approx(item["keras_val_loss"])
    for layer in (0, 1):
        for channel in ("output", "output_grad", "weights", "weight_grad", "update", "input"):
            assert f"{layer}:{channel}" in item["channels"]
    assert item["tool_errors"] == []


def test_tf_training_is_unaltered_bit_for_bit(results: dict[str, dict[str, Any]]) -> None:
    assert _get(results, "unaltered")["identical"]


@pytest.mark.parametrize("name", [n for n, s in sc.SCENARIOS.items() if s.expect is not None])
def test_tf_common_keras_bug_is_localized(results: dict[str, dict[str, Any]], name: str) -> None:
    item = _get(results, name)
    assert item["verdict"] == "faulty", item["findings"]
    assert sc.matches(item, sc.SCENARIOS[name].expect), item["root_causes"]
    assert item["tool_errors"] == []


@pytest.mark.parametrize("name", ["healthy_mlp", "healthy_cnn"])
def test_tf_healthy_keras_model_is_healthy(results: dict[str, dict[str, Any]], name: str) -> None:
    item = _get(results, name)
    assert item["verdict"] == "healthy", item["findings"]
    assert item["tool_errors"] == []
