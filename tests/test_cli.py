"""The CLI verbs that need no framework: stored runs, settings, bad input, bench forwarding."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deeplocalize import cli_commands, summary
from deeplocalize.cli import main
from deeplocalize.cli_commands import UsageError, apply_settings
from deeplocalize.config import Config
from deeplocalize.model import LayerInfo, ModelInfo
from deeplocalize.store import DB_NAME, RunStore
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Channel

LAYERS = [LayerInfo(0, "fc1", "Linear", activation="linear", units=8, params=40, trainable_params=40),
          LayerInfo(1, "act", "ReLU", activation="relu", units=8),
          LayerInfo(2, "fc2", "Linear", activation="linear", units=3, params=27, trainable_params=27)]


def record(step: int, nan_from: int | None) -> StepRecord:
    """A plausible step of a 3-layer MLP; layer 2's output is NaN from step ``nan_from``."""
    rng = np.random.default_rng(step)
    stats = {}
    for layer in LAYERS:
        out = rng.normal(size=(16, layer.units))
        if layer.activation == "relu":
            out = np.maximum(out, 0)
        if nan_from is not None and step >= nan_from and layer.index == 2:
            out[:] = np.nan
        stats[(layer.index, Channel.OUTPUT)] = summary.summarize(out, unit_axis=-1)
        stats[(layer.index, Channel.INPUT)] = summary.summarize(rng.normal(size=(16, 8)))
    nan = nan_from is not None and step >= nan_from
    return StepRecord(step=step, loss=float("nan") if nan else 2.0 / step ** 0.3, lr=0.01, stats=stats,
                      data=summary.summarize(rng.normal(size=(16, 5))))


def stored_run(store_dir: Path, steps: int = 40, nan_from: int | None = None, finish: bool = False) -> str:
    """Write a run the way a probe would, without a diagnosis (as if the process had been killed)."""
    writer = RunStore(store_dir).create_run("torch", command="train.py --lr 0.01")
    writer.write_model(ModelInfo("torch", layers=LAYERS))
    for step in range(1, steps + 1):
        writer.write_step(record(step, nan_from))
    writer.close()
    return writer.run_id


def one_line_error(capsys: pytest.CaptureFixture[str], *fragments: str) -> None:
    err = capsys.readouterr().err.strip()
    assert err.startswith("deeplocalize: error: ") and "\n" not in err and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def test_help_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "run" in capsys.readouterr().out
    assert main([]) == 2
    assert main(["run"]) == 2  # no script
    assert main(["run", "--max-steps", "0", "x.py"]) == 2


def test_missing_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--store", str(tmp_path), str(tmp_path / "nope.py")]) == 2
    one_line_error(capsys, "script not found", "nope.py")
    assert not (tmp_path / DB_NAME).exists()


def test_corrupt_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / DB_NAME).write_bytes(b"\x00garbage" * 500)
    script = tmp_path / "train.py"
    script.write_text("raise SystemExit('must not run')\n")
    for argv in (["run", str(script)], ["runs"], ["analyze", "latest"], ["report", "r1"]):
        assert main([*argv, "--store", str(tmp_path)] if argv[0] != "run"
                    else ["run", "--store", str(tmp_path), str(script)]) == 2
        one_line_error(capsys, "corrupt")


def test_unknown_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stored_run(tmp_path, steps=3)
    assert main(["report", "r0099", "--store", str(tmp_path)]) == 2
    one_line_error(capsys, "no run 'r0099'")


def test_apply_settings() -> None:
    config = apply_settings(Config(), ["check_every=3", "window=64"])
    assert (config.check_every, config.window) == (3, 64)
    with pytest.raises(UsageError, match=r"unknown setting 'no_such'.*valid names: .*check_every"):
        apply_settings(Config(), ["no_such=1"])
    with pytest.raises(UsageError, match="cannot read 'abc' as int"):
        apply_settings(Config(), ["window=abc"])
    with pytest.raises(UsageError, match="NAME=VALUE"):
        apply_settings(Config(), ["window"])


def test_runs_listing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--store", str(tmp_path / "empty")]) == 0
    assert "no runs stored" in capsys.readouterr().out
    stored_run(tmp_path, steps=5)
    stored_run(tmp_path, steps=7)
    assert main(["runs", "--store", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "DATE", "FRAMEWORK", "STEPS", "VERDICT", "COMMAND"]
    assert lines[1].split()[0] == "r0001" and lines[2].split()[0] == "r0002"
    assert "torch" in lines[2] and " 7 " in lines[2] and lines[2].endswith("train.py --lr 0.01")


def test_analyze_killed_nan_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = stored_run(tmp_path, steps=30, nan_from=12)
    out = tmp_path / "d.json"
    argv = ["analyze", run_id, "--store", str(tmp_path), "--json", str(out), "--set", "check_every=5"]
    assert main(argv) == 1
    doc = json.loads(out.read_text())
    assert doc["schema"] == "deeplocalize.diagnosis/1" and doc["verdict"] == "faulty"
    first = doc["findings"][0]
    assert first["symptom"] == "numerical_error" and first["step"] == 12
    assert first["layer"] == {"index": 2, "name": "fc2", "type": "Linear"}
    assert "FAULTY" in capsys.readouterr().out
    # report on a run without a stored diagnosis computes it from the trace
    assert main(["report", "latest", "--store", str(tmp_path), "--json", str(out)]) == 1
    assert json.loads(out.read_text())["findings"][0]["step"] == 12
    assert "ended without a diagnosis" in capsys.readouterr().out


def test_analyze_set_changes_the_thresholds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = stored_run(tmp_path, steps=120)
    out = tmp_path / "d.json"
    main(["analyze", run_id, "--store", str(tmp_path), "--json", str(out), "-q"])
    assert json.loads(out.read_text())["verdict"] != "inconclusive"
    assert main(["analyze", run_id, "--store", str(tmp_path), "--json", str(out), "-q",
                 "--set", "min_steps_for_verdict=1000"]) == 3  # inconclusive
    assert json.loads(out.read_text())["verdict"] == "inconclusive"
    assert main(["analyze", run_id, "--store", str(tmp_path), "--set", "nope=1"]) == 2
    one_line_error(capsys, "unknown setting 'nope'", "min_steps_for_verdict")


def test_bench_forwards_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "__init__.py").write_text("")
    (tmp_path / "benchmarks" / "bench.py").write_text("def main(argv):\n    return 40 + len(argv)\n")
    monkeypatch.setattr(cli_commands, "find_repository", lambda: tmp_path)
    monkeypatch.delitem(sys.modules, "benchmarks", raising=False)
    monkeypatch.delitem(sys.modules, "benchmarks.bench", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert main(["bench", "--cases", "a", "--help"]) == 43


def test_bench_without_repository(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                  ) -> None:
    monkeypatch.setattr(cli_commands, "find_repository", lambda: None)
    assert main(["bench"]) == 2
    one_line_error(capsys, "benchmarks/bench.py not found")


def test_python_dash_m(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "deeplocalize", "runs", "--store", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "no runs stored" in proc.stdout, proc.stderr


def test_output_into_a_closed_pipe_is_no_internal_error(tmp_path: Path) -> None:
    """`deeplocalize report RUN | head -1`: the reader goes away; no "internal error" line, no traceback."""
    run_id = stored_run(tmp_path, steps=30, nan_from=20)
    read, write = os.pipe()
    os.close(read)
    proc = subprocess.run([sys.executable, "-m", "deeplocalize", "report", run_id, "--store", str(tmp_path)],
                          stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write)
    assert proc.returncode == 2 and proc.stderr == ""


def test_report_writes_json_html_and_tensorboard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = stored_run(tmp_path / "s", steps=30, nan_from=20)
    paths = tmp_path / "d.json", tmp_path / "r.html", tmp_path / "tb"
    argv = ["report", run_id, "--store", str(tmp_path / "s"), "--json", str(paths[0]),
            "--html", str(paths[1]), "--tensorboard", str(paths[2])]
    assert main(argv) == 1, capsys.readouterr().err
    assert json.loads(paths[0].read_text())["verdict"] == "faulty"
    assert "<html" in paths[1].read_text().lower()
    assert any(paths[2].rglob("*tfevents*"))


def test_unwritable_output_is_a_tool_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = stored_run(tmp_path / "s", steps=25)
    blocker = tmp_path / "file"
    blocker.write_text("")
    argv = ["report", run_id, "--store", str(tmp_path / "s"), "-q", "--json", str(blocker / "d.json")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("deeplocalize: cannot write the JSON to") and "\n" not in err


# ---------------------------------------------------------------------- settings are validated up front
@pytest.mark.parametrize(("pair", "fragment"), [
    ("window=0", "--set window=0: window must be at least 1, got 0"),
    ("window=-5", "window must be at least 1, got -5"),
    ("tensor_min_points=-3", "tensor_min_points must be at least 1"),
    ("min_steps_for_verdict=-1", "min_steps_for_verdict must be at least 0"),
    ("dead_frac=1.5", "dead_frac must be between 0 and 1, got 1.5"),
    ("tensor_sustain_frac=-0.1", "between 0 and 1"),
    ("stuck_vote=2", "stuck_vote must be between 0 and 1"),
    ("exploding_weight_abs=nan", "exploding_weight_abs must be a number, not NaN"),
    ("window=1.5", "cannot read '1.5' as int"),
    ("nope=1", "unknown setting 'nope'"),
])
def test_bad_settings_are_usage_errors_and_leave_no_run(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        pair: str, fragment: str) -> None:
    store = tmp_path / "store"
    stored_run(store, steps=3)
    script = tmp_path / "train.py"
    script.write_text("raise SystemExit('must not run')\n")
    assert main(["run", "--store", str(store), "--set", "check_every=5", "--set", pair, str(script)]) == 2
    one_line_error(capsys, fragment)
    assert [r["id"] for r in RunStore(store).list_runs()] == ["r0001"]  # no stray run
    assert main(["analyze", "latest", "--store", str(store), "--set", pair]) == 2
    one_line_error(capsys, fragment)


def test_apply_settings_accepts_the_edges() -> None:
    edges = ["window=1", "dead_frac=1", "saturated_frac=0", "exploding_weight_abs=inf"]
    config = apply_settings(Config(), edges)
    assert (config.window, config.dead_frac, config.saturated_frac) == (1, 1.0, 0.0)
    assert config.exploding_weight_abs == float("inf")  # a threshold turned off


# ---------------------------------------------------------------------- outputs are written atomically
def test_failed_outputs_leave_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import errno
    import os

    from deeplocalize.report import tensorboard

    run_id = stored_run(tmp_path / "s", steps=30, nan_from=20)
    out = tmp_path / "out"
    out.mkdir()
    (out / "d.json").write_text("the previous diagnosis\n")

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    monkeypatch.setattr(tensorboard, "_text_event", full)
    argv = ["report", run_id, "--store", str(tmp_path / "s"), "-q", "--json", str(out / "d.json"),
            "--html", str(out / "r.html"), "--tensorboard", str(out / "tb")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"deeplocalize: cannot write the JSON to {out / 'd.json'}: No space left on device",
                   f"deeplocalize: cannot write the HTML report to {out / 'r.html'}: No space left on device",
                   f"deeplocalize: cannot write the TensorBoard log to {out / 'tb'}: No space left on device"]
    assert sorted(p.name for p in out.iterdir()) == ["d.json", "tb"]  # no temporary file left behind
    assert (out / "d.json").read_text() == "the previous diagnosis\n"  # the old file is intact
    assert list((out / "tb").iterdir()) == []  # no partial event file, no staging directory


REPORT_UNDER_LIMIT = """
import resource, signal, sys
from deeplocalize.cli import main
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
sys.exit(main(sys.argv[1:]))
"""


def test_outputs_past_a_file_size_limit(tmp_path: Path) -> None:
    """A real write error: the HTML report (> 4 KiB) cannot be written under RLIMIT_FSIZE; the JSON can."""
    run_id = stored_run(tmp_path / "s", steps=30, nan_from=20)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", REPORT_UNDER_LIMIT, "report", run_id, "--store",
                           str(tmp_path / "s"), "-q", "--json", str(out / "d.json"), "--html",
                           str(out / "r.html")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    html = out / "r.html"
    assert proc.stderr.strip() == f"deeplocalize: cannot write the HTML report to {html}: File too large"
    assert sorted(p.name for p in out.iterdir()) == ["d.json"]
    assert json.loads((out / "d.json").read_text())["verdict"] == "faulty"


# ---------------------------------------------------------------------- a read-only store can be read
def test_read_only_store_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from deeplocalize import store as store_mod

    run_id = stored_run(tmp_path / "s", steps=30, nan_from=12)
    db = tmp_path / "s" / DB_NAME
    before = db.read_bytes()
    monkeypatch.setattr(store_mod, "writable", lambda directory, db_path: False)
    assert main(["runs", "--store", str(tmp_path / "s")]) == 0
    assert run_id in capsys.readouterr().out
    out = tmp_path / "d.json"
    assert main(["analyze", run_id, "--store", str(tmp_path / "s"), "-q", "--json", str(out)]) == 1
    assert json.loads(out.read_text())["findings"][0]["step"] == 12
    html = tmp_path / "r.html"
    assert main(["report", run_id, "--store", str(tmp_path / "s"), "-q", "--html", str(html)]) == 1
    assert capsys.readouterr().err == ""
    assert db.read_bytes() == before


READ_ONLY_DRIVER = """
import json, os, subprocess, sys
store, commands = sys.argv[1], json.loads(sys.argv[2])
if os.access(store, os.W_OK):
    sys.exit(97)  # the directory is writable after all
results = [subprocess.run([sys.executable, "-m", "deeplocalize", *argv], capture_output=True, text=True)
           for argv in commands]
print(json.dumps([[r.returncode, r.stdout, r.stderr] for r in results]))
"""


def run_in_read_only_dir(store: Path, commands: list[list[str]]) -> list[list]:
    """Run CLI commands with ``store`` truly read-only: chmod when not root (root writes anyway); as root, a
    read-only bind mount in a private mount namespace (unshare -m). Skips when neither is possible."""
    import os
    import shutil

    driver = [sys.executable, "-c", READ_ONLY_DRIVER, str(store), json.dumps(commands)]
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [store, *store.iterdir()]}
        for path in modes:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            proc = subprocess.run(driver, capture_output=True, text=True, timeout=300)
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
    else:
        if shutil.which("unshare") is None or shutil.which("mount") is None:
            pytest.skip("running as root without unshare/mount: no way to make a directory read-only")
        remount = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"'
        proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", remount, "sh",
                               str(store), *driver], capture_output=True, text=True, timeout=300)
    if proc.returncode == 97 or not proc.stdout.startswith("["):
        pytest.skip(f"cannot make {store} read-only here: {proc.stderr.strip()[:200]}")
    return json.loads(proc.stdout)


def test_read_only_store_directory(tmp_path: Path) -> None:
    store = tmp_path / "s"
    run_id = stored_run(store, steps=30, nan_from=12)
    before = {p.name: p.read_bytes() for p in store.iterdir()}
    out = tmp_path / "out"
    script = tmp_path / "no_training.py"
    script.write_text("print('the script ran')\n")
    results = run_in_read_only_dir(store, [
        ["runs", "--store", str(store)],
        ["analyze", "latest", "--store", str(store), "-q", "--json", str(out / "a.json")],
        ["report", run_id, "--store", str(store), "-q", "--json", str(out / "r.json"), "--html",
         str(out / "r.html")],
        ["run", "--store", str(store), "-q", str(tmp_path / "missing.py")],
        ["run", "--store", str(store), "-q", "--json", str(out / "run.json"), str(script)],
    ])
    (runs, analyze, report, run, writing) = results
    assert runs[0] == 0 and run_id in runs[1] and runs[2] == "", runs
    assert analyze[0] == 1 and analyze[2] == "", analyze
    assert json.loads((out / "a.json").read_text())["findings"][0]["step"] == 12
    assert report[0] == 1 and report[2] == "" and (out / "r.html").exists(), report
    assert run[0] == 2 and "script not found" in run[2]
    if importlib.util.find_spec("torch") is not None:  # `run` needs a framework probe to start
        # on a read-only store the script still runs, unrecorded (a tool error: exit 2)
        assert writing[0] == 2 and "the script ran" in writing[1], writing
        assert "deeplocalize: not stored: cannot write to run store" in writing[2]
        assert json.loads((out / "run.json").read_text())["verdict"] == "inconclusive"
    assert {p.name: p.read_bytes() for p in store.iterdir()} == before  # nothing written, no -wal / -shm


def test_analyze_replays_the_models_of_a_script_in_step_order() -> None:
    """An actor whose advantage-weighted loss changes sign and a critic whose loss rises with the returns,
    stored with the critic first: replayed model by model, the critic would be judged before the actor showed
    that the script trains a policy gradient; in step order, as online, it is not."""
    from deeplocalize.store import StoredRun
    from deeplocalize.vocabulary import Symptom

    rng = np.random.default_rng(0)
    actor = [StepRecord(step=s, loss=float(rng.normal(0, 0.1))) for s in range(1, 201)]
    critic = [StepRecord(step=s, loss=1.0 + s / 200 + float(rng.normal(0, 0.1))) for s in range(1, 201)]
    runs = [StoredRun({"id": name, "framework": "torch"}, ModelInfo("torch"), records, None)
            for name, records in (("critic", critic), ("actor", actor))]
    diagnosis, monitor = cli_commands.replay(runs[0], Config(), runs[1:])
    assert monitor.policy_models == {id(monitor.siblings[0])}
    assert Symptom.LOSS_NOT_DECREASING not in [f.symptom for f in diagnosis.findings]
