"""`deeplocalize run` and `demo` end to end on small, unmodified PyTorch and Keras training scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("torch")

from deeplocalize.cli import main
from deeplocalize.store import RunStore

PRELUDE = """
import sys
import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(256, 10)
y = (x[:, :3].sum(1) > 0).long()


class Net(nn.Module):
    def __init__(self, scale=None):
        super().__init__()
        self.fc1 = nn.Linear(10, 16)
        self.act = nn.ReLU()
        self.scale = scale or nn.Identity()
        self.fc2 = nn.Linear(16, 2)

    def forward(self, inputs):
        return self.fc2(self.scale(self.act(self.fc1(inputs))))


def train(model, epochs, on_step=None):
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    step = 0
    for _ in range(epochs):
        for i in range(0, 256, 32):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[i:i + 32]), y[i:i + 32])
            loss.backward()
            optimizer.step()
            step += 1
            if on_step:
                on_step(step)
    return loss
"""

SCRIPTS = {
    "healthy.py": "loss = train(Net(), epochs=12)\nprint('final loss', loss.item())\n",
    "nan.py": """
class DivideByZeroFrom(nn.Module):
    '''A custom layer that divides by zero from its 30th training call.'''

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, inputs):
        self.calls += self.training
        return inputs / 0.0 if self.calls >= 30 else inputs * 1.0


train(Net(DivideByZeroFrom()), epochs=6)
""",
    "raises.py": """
def fail(step):
    if step == 3:
        raise RuntimeError("boom at step 3")

train(Net(), epochs=2, on_step=fail)
""",
    "exits.py": "train(Net(), epochs=3)\nsys.exit(3)\n",
    "two_models.py": "train(Net(), epochs=12)\ntrain(Net(), epochs=12)\n",
    "args.py": """
import json
json.dump(sys.argv, open(sys.argv[1], "w"))
train(Net(), epochs=12)
""",
}


@pytest.fixture
def scripts(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, body in SCRIPTS.items():
        paths[name] = tmp_path / name
        paths[name].write_text(PRELUDE + textwrap.dedent(body))
    return paths


def run_cli(tmp_path: Path, *argv: str) -> tuple[int, dict]:
    out = tmp_path / "diagnosis.json"
    out.unlink(missing_ok=True)
    status = main(["run", "--store", str(tmp_path / "store"), "--json", str(out), "--quiet", *argv])
    return status, json.loads(out.read_text())


def test_healthy_script_exits_0(tmp_path: Path, scripts: dict[str, Path]) -> None:
    status, doc = run_cli(tmp_path, str(scripts["healthy.py"]))
    assert doc["findings"] == [] and doc["verdict"] == "healthy", doc["findings"]
    assert status == 0
    assert doc["steps_observed"] == 96 and not doc["stopped_early"]
    assert [layer["name"] for layer in doc["layers"]] == ["fc1", "act", "scale", "fc2"]


def test_nan_script_exits_1_with_the_producing_layer(tmp_path: Path, scripts: dict[str, Path]) -> None:
    status, doc = run_cli(tmp_path, str(scripts["nan.py"]))
    assert status == 1
    assert doc["schema"] == "deeplocalize.diagnosis/1" and doc["verdict"] == "faulty"
    assert doc["framework"] == "torch" and doc["stopped_early"] is True
    first = doc["findings"][0]
    assert first["symptom"] == "numerical_error" and first["phase"] == "forward" and first["step"] == 30
    assert first["layer"] == {"index": 2, "name": "scale", "type": "DivideByZeroFrom"}
    assert doc["root_causes"] and doc["tool_errors"] == []
    stored = RunStore(tmp_path / "store").load_run("latest")
    assert stored.meta["verdict"] == "faulty" and stored.meta["command"].endswith("nan.py")
    assert stored.records[-1].step == doc["steps_observed"]


def test_on_fault_continue_trains_to_the_end(tmp_path: Path, scripts: dict[str, Path]) -> None:
    status, doc = run_cli(tmp_path, "--on-fault", "continue", str(scripts["nan.py"]))
    assert status == 1 and doc["steps_observed"] == 48 and not doc["stopped_early"]


def test_two_models_in_one_script_are_diagnosed_apart(tmp_path: Path, scripts: dict[str, Path],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    status, doc = run_cli(tmp_path, str(scripts["two_models.py"]))
    seen = (status, doc["findings"], doc["tool_errors"], doc["models"])
    assert status == 0 and doc["verdict"] == "healthy", seen
    assert [m["verdict"] for m in doc["models"]] == ["healthy", "healthy"]
    capsys.readouterr()
    store = str(tmp_path / "store")
    assert main(["runs", "--store", store]) == 0
    assert "healthy (2 models)" in capsys.readouterr().out
    # every model's steps are stored (the second one's were dropped before): analyze covers both
    first, second = RunStore(store).load_models("latest")
    assert len(first.records) == len(second.records) == doc["models"][1]["steps_observed"]
    assert second.meta["parent"] == first.run_id and second.diagnosis.model == doc["models"][1]["model"]
    out = tmp_path / "again.json"
    assert main(["analyze", "latest", "--store", store, "--json", str(out), "--quiet"]) == 0
    again = json.loads(out.read_text())
    assert [(m["model"], m["verdict"]) for m in again["models"]] == [
        (m["model"], m["verdict"]) for m in doc["models"]]
    assert main(["analyze", "latest", "--model", "1", "--store", store, "--json", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["steps_observed"] == doc["models"][1]["steps_observed"]
    capsys.readouterr()
    assert main(["report", "latest", "--model", "2", "--store", store]) == 2
    assert "has no model 2 stored (models 0, 1)" in capsys.readouterr().err


def test_script_that_raises(tmp_path: Path, scripts: dict[str, Path],
                            capsys: pytest.CaptureFixture[str]) -> None:
    status, doc = run_cli(tmp_path, str(scripts["raises.py"]))
    assert status == 1 and doc["verdict"] != "faulty" and doc["steps_observed"] == 3
    err = capsys.readouterr().err
    assert "deeplocalize: raises.py raised RuntimeError: boom at step 3; diagnosing the steps that ran" in err
    assert "raises.py" in err.split("RuntimeError")[0]  # the user's frames are shown ...
    assert "deeplocalize/cli_exec.py" not in err and "runpy" not in err  # ... ours are not


def test_script_exit_status_is_kept(tmp_path: Path, scripts: dict[str, Path]) -> None:
    status, doc = run_cli(tmp_path, str(scripts["exits.py"]))
    assert status == 3 and doc["verdict"] != "faulty"


def test_script_args_and_max_steps(tmp_path: Path, scripts: dict[str, Path]) -> None:
    argv_file = tmp_path / "argv.json"
    script = str(scripts["args.py"])
    status, doc = run_cli(tmp_path, "--max-steps", "5", script, str(argv_file), "--json", "x")
    assert json.loads(argv_file.read_text()) == [str(scripts["args.py"]), str(argv_file), "--json", "x"]
    assert doc["steps_observed"] == 5 and doc["stopped_early"] is True
    assert doc["verdict"] == "inconclusive" and status == 3  # 5 steps are too few to judge


def test_process_exit_status(tmp_path: Path, scripts: dict[str, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "deeplocalize", "run", "--store", str(tmp_path / "s"), str(scripts["nan.py"])],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1, proc.stderr
    assert "FAULTY" in proc.stderr and "Fix:" in proc.stderr and "scale" in proc.stderr


def test_demo_diagnoses_the_bundled_bug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.json"
    assert main(["demo", "--store", str(tmp_path), "--json", str(out)]) == 1  # the demo model is faulty
    doc = json.loads(out.read_text())
    assert doc["verdict"] == "faulty" and doc["root_causes"], doc
    text = capsys.readouterr().out
    assert "FAULTY" in text and "Fix:" in text


KERAS_SCRIPT = """
import numpy as np
import keras

rng = np.random.default_rng(0)
x = rng.normal(size=(512, 8)).astype("float32")
y = (x[:, :2].sum(axis=1) > 0).astype("float32")
model = keras.Sequential([
    keras.Input((8,)),
    keras.layers.Dense(16, activation="relu", name="hidden"),
    keras.layers.Dense(1, activation="softmax", name="out"),  # the bug: softmax over one unit is always 1.0
])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=32, epochs=3, verbose=0)
"""


def test_keras_script_is_instrumented_through_fit(tmp_path: Path) -> None:
    pytest.importorskip("keras")
    script = tmp_path / "keras_softmax_one_unit.py"
    script.write_text(KERAS_SCRIPT)
    out = tmp_path / "diagnosis.json"
    proc = subprocess.run(
        [sys.executable, "-m", "deeplocalize", "run", "--store", str(tmp_path / "store"), "--json", str(out),
         "--quiet", str(script)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "KERAS_BACKEND": "torch"},
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["framework"] == "keras" and doc["verdict"] == "faulty"
    assert [layer["name"] for layer in doc["layers"]] == ["hidden", "out"]
    assert doc["findings"][0]["step"] == 1
    top = doc["root_causes"][0]
    assert top["category"] in ("activation", "loss") and (top["layer"] or {}).get("name") in ("out", None)
    assert any(c["layer"] and c["layer"]["name"] == "out" for c in doc["root_causes"])


# ---------------------------------------------------------------------- a store that cannot be written
def _steps_insert(sql: str) -> bool:
    return sql.startswith("INSERT OR REPLACE INTO steps")


class _FailFirst:
    """Fail the first ``n`` flushes of steps (a disk that fills up, then has room again)."""

    def __init__(self, n: int) -> None:
        self.left = n

    def __call__(self, sql: str) -> bool:
        if _steps_insert(sql) and self.left > 0:
            self.left -= 1
            return True
        return False


@pytest.mark.parametrize(("case", "fail", "message"), [
    ("create", lambda sql: True, "database or disk is full"),
    ("create", lambda sql: True, "attempt to write a readonly database"),
    ("create", lambda sql: True, "database is locked"),
    ("steps", _steps_insert, "database or disk is full"),
    ("end", lambda sql: sql.startswith("UPDATE runs SET diagnosis"), "disk I/O error"),
    ("transient", _FailFirst(1), "database or disk is full"),
])
def test_store_write_errors_never_stop_the_training(
    tmp_path: Path, scripts: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], case: str, fail: Callable[[str], bool], message: str,
) -> None:
    from _store_faults import fail_store_writes

    fail_store_writes(monkeypatch, fail, message)
    out = tmp_path / "diagnosis.json"
    status = main(["run", "--store", str(tmp_path / "store"), "--json", str(out), str(scripts["healthy.py"])])
    err = capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert doc["verdict"] == "healthy" and doc["steps_observed"] == 96  # the training ran to its end
    assert "HEALTHY" in err  # and the diagnosis was printed
    store_lines = [line for line in err.splitlines() if line.startswith("deeplocalize: store: ")]
    assert store_lines and all(message in line for line in store_lines), err
    assert [e for e in doc["tool_errors"] if e.startswith("store: ")] == [
        line.removeprefix("deeplocalize: ") for line in store_lines]
    if case == "transient":  # written once the disk had room again: complete, nothing lost
        assert status == 0 and "Stored as run r0001" in err and "not stored" not in err
        assert len(RunStore(tmp_path / "store").load_run("latest").records) == 96
        return
    assert status == 2  # a tool error (the verdict itself is healthy)
    assert "Stored as run" not in err
    (last,) = [line for line in err.splitlines() if "not stored" in line]
    if case == "create":
        assert last.startswith("deeplocalize: not stored: cannot write to run store") and message in last
    else:
        assert last.startswith("deeplocalize: run r0001 is not stored completely: run store write failed (")
    assert "Traceback" not in err


def test_disk_full_before_the_start(tmp_path: Path, scripts: dict[str, Path]) -> None:
    """A real write error: with a 1 KiB file-size limit (SIGXFSZ ignored) the store cannot even be created;
    the script still runs, the diagnosis is printed and written to --json (smaller than the limit)."""
    import resource
    import signal

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    out = tmp_path / "d.json"
    script = tmp_path / "train.py"
    script.write_text(scripts["healthy.py"].read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "deeplocalize", "run", "--store", str(tmp_path / "store"), "--json", str(out),
         str(script)], capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        preexec_fn=limit,
    )
    assert proc.returncode == 2, proc.stderr
    assert "final loss" in proc.stdout  # the script ran to its end
    assert "HEALTHY" in proc.stderr and "Stored as run" not in proc.stderr and "Traceback" not in proc.stderr
    assert "deeplocalize: not stored: cannot write to run store" in proc.stderr
    doc = json.loads(out.read_text())
    assert doc["verdict"] == "healthy"
    assert any(e.startswith("store: cannot write") for e in doc["tool_errors"])


# ---------------------------------------------------------------------- exit statuses
def test_no_training_step_is_inconclusive_exit_3(tmp_path: Path) -> None:
    script = tmp_path / "nothing.py"
    script.write_text("print('no training here')\n")
    out = tmp_path / "d.json"
    assert main(["run", "--store", str(tmp_path / "s"), "--json", str(out), "-q", str(script)]) == 3
    assert json.loads(out.read_text())["verdict"] == "inconclusive"


def test_demo_fixed_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "demo.json"
    assert main(["demo", "--fixed", "--store", str(tmp_path), "--json", str(out), "-q"]) == 0
    assert json.loads(out.read_text())["verdict"] == "healthy"


LONG_SCRIPT = """
step = [0]

def report(n):
    step[0] = n
    if n == 20:
        print("training", flush=True)

train(Net(), epochs=100000, on_step=report)
"""


def test_sigterm_stores_and_prints_the_diagnosis_then_exits_143(tmp_path: Path) -> None:
    import signal
    import threading
    import time

    script = tmp_path / "long.py"
    script.write_text(PRELUDE + LONG_SCRIPT)
    out = tmp_path / "d.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "deeplocalize", "run", "--store", str(tmp_path / "store"), "--json", str(out),
         "--on-fault", "continue", str(script)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    watchdog = threading.Timer(300, proc.kill)  # never hang the suite on a stuck child
    watchdog.start()
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "training"  # the loop runs (imports done, hooks in place)
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert "deeplocalize: terminated (SIGTERM); diagnosing the steps that ran" in err
    assert "Stored as run r0001" in err and "Traceback" not in err
    doc = json.loads(out.read_text())
    assert doc["steps_observed"] > 20 and f"{doc['verdict'].upper()}" in err
    stored = RunStore(tmp_path / "store").load_run("latest")
    assert stored.meta["status"] == "finished" and stored.diagnosis is not None
    assert stored.diagnosis.to_dict() == doc and stored.meta["steps"] == doc["steps_observed"]


def test_a_known_framework_error_gets_a_hint_beside_it(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """An RNN whose hidden state is carried across batches without ``detach()`` fails at its second
    backward; PyTorch's message suggests retain_graph=True, the hint says what to change."""
    script = tmp_path / "stateful.py"
    script.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        torch.manual_seed(0)
        rnn, head = nn.GRU(3, 8, batch_first=True), nn.Linear(8, 2)
        opt = torch.optim.SGD([*rnn.parameters(), *head.parameters()], lr=0.1)
        h = None
        for step in range(5):
            out, h = rnn(torch.randn(4, 6, 3), h)
            loss = nn.functional.cross_entropy(head(out[:, -1]), torch.randint(0, 2, (4,)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    """))
    status, _ = run_cli(tmp_path, str(script))
    err = capsys.readouterr().err
    assert status == 1 and "deeplocalize: hint: a tensor made in an earlier step" in err, err[-2000:]
