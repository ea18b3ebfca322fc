"""The run store: round trip, crash safety, bounded size, clear errors."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _store_faults import FlakyConnection, fail_store_writes
from deeplocalize import store as store_mod
from deeplocalize import store_writer, summary
from deeplocalize.config import Config
from deeplocalize.detectors import Detector
from deeplocalize.diagnosis import Diagnosis, Finding
from deeplocalize.errors import StoreError
from deeplocalize.model import LayerInfo, ModelInfo
from deeplocalize.monitor import Monitor
from deeplocalize.store import RunStore
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Channel, Phase, Symptom, Verdict


def make_record(step: int, loss: float | None = 1.0) -> StepRecord:
    rng = np.random.default_rng(step)
    stats = {
        (0, Channel.OUTPUT): summary.summarize(rng.normal(size=(4, 3)), unit_axis=-1),
        (1, Channel.WEIGHT_GRAD): summary.summarize(rng.normal(size=5)),
        (1, Channel.UPDATE): summary.empty(),
    }
    return StepRecord(step=step, epoch=step // 10, loss=loss, metrics={"accuracy": 0.5}, lr=0.1,
                      stats=stats, data=summary.summarize(rng.normal(size=8)), target=None)


def assert_same(a: StepRecord, b: StepRecord) -> None:
    assert (a.step, a.epoch, a.lr, a.metrics) == (b.step, b.epoch, b.lr, b.metrics)
    assert a.loss == b.loss or (np.isnan(a.loss) and np.isnan(b.loss))
    assert set(a.stats) == set(b.stats)
    for key, vec in a.stats.items():
        assert np.array_equal(vec, b.stats[key], equal_nan=True)
    assert np.array_equal(a.data, b.data, equal_nan=True)
    assert b.target is None


def test_round_trip(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    config = Config(check_every=3)
    writer = store.create_run("torch", command="train.py --epochs 2", config=config)
    model = ModelInfo("torch", layers=[LayerInfo(0, "fc1", "Linear", activation="linear", params=12)])
    writer.write_model(model)
    records = [make_record(s) for s in range(1, 8)]
    records[-1].loss = float("nan")  # a NaN loss must come back as NaN, not as "unknown"
    for r in records:
        writer.write_step(r)
    records[-1].metrics["val_loss"] = 2.0  # arrives after the step was recorded (Monitor.log)
    diagnosis = Diagnosis(verdict=Verdict.HEALTHY, framework="torch", steps_observed=7, layers=model.layers)
    writer.write_diagnosis(diagnosis)
    writer.close()

    run = store.load_run(writer.run_id)
    assert run.meta["command"] == "train.py --epochs 2"
    assert run.meta["status"] == "finished" and run.meta["verdict"] == "healthy" and run.meta["steps"] == 7
    assert run.config.check_every == 3
    assert run.model.layers[0].name == "fc1"
    assert run.diagnosis is not None and run.diagnosis.to_dict() == diagnosis.to_dict()
    assert len(run.records) == 7
    for a, b in zip(records, run.records, strict=True):
        assert_same(a, b)
    assert len(run.trace()) == 7


def test_ids_latest_and_listing(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    ids = []
    for _ in range(3):
        writer = store.create_run("keras", command="fit.py")
        writer.close()
        ids.append(writer.run_id)
    assert ids == ["r0001", "r0002", "r0003"]
    assert store.resolve("latest") == "r0003"
    assert store.resolve("2") == store.resolve("r2") == "r0002"
    listed = store.list_runs()
    assert [r["id"] for r in listed] == ids
    assert {r["framework"] for r in listed} == {"keras"}
    assert listed[0]["status"] == "running"  # no diagnosis, and this process is alive


def test_env_var_sets_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPLOCALIZE_DIR", str(tmp_path / "here"))
    assert RunStore().path == tmp_path / "here"
    monkeypatch.delenv("DEEPLOCALIZE_DIR")
    assert RunStore().path == Path(".deeplocalize")


KILLED_SCRIPT = """
import os, sys
import numpy as np
from deeplocalize import summary
from deeplocalize.store import RunStore
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Channel
writer = RunStore(sys.argv[1]).create_run("torch", command="killed.py")
for step in range(1, 121):
    out = np.full(6, np.nan) if step >= 100 else np.linspace(-1, 1, 6) * step
    stats = {(0, Channel.OUTPUT): summary.summarize(out)}
    writer.write_step(StepRecord(step=step, loss=1.0 / step, stats=stats))
os._exit(9)  # killed: no close, no diagnosis
"""


def nan_detector(trace, model, config) -> list[Finding]:
    rec = trace.last_record
    vec = rec.get(0, Channel.OUTPUT)
    if vec is None or summary.is_finite(vec):
        return []
    return [Finding(Symptom.NUMERICAL_ERROR, Phase.FORWARD, None, rec.step, "NaN output")]


def test_killed_process_leaves_an_analyzable_run(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_SCRIPT), str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    store = RunStore(tmp_path)
    (listed,) = store.list_runs()
    assert listed["status"] == "interrupted" and listed["verdict"] is None
    run = store.load_run("latest")
    assert run.diagnosis is None
    # batches are committed every 50 steps or 1 s: at least the first 100 steps made it to disk
    assert len(run.records) >= 100
    monitor = Monitor("torch", run.config, on_fault="continue",
                      detectors=[Detector("nan", nan_detector, "step")])
    for record in run.records:
        monitor.record(record)
    assert monitor.findings and monitor.findings[0].step == 100


def test_size_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_writer, "FLUSH_STEPS", 200)
    store = RunStore(tmp_path)
    writer = store.create_run("torch", config=Config(window=50, history=40))
    sizes = {}
    for step in range(1, 6001):
        writer.write_step(make_record(step))
        if step in (1000, 6000):
            writer.flush()
            writer._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page into the main file
            sizes[step] = store.db_path.stat().st_size
    writer.close()
    steps = [r.step for r in store.load_run(writer.run_id).records]
    assert len(steps) <= 50 + 40
    assert steps[-50:] == list(range(5951, 6001))  # the recent window, whole
    old = steps[:-50]
    stride = old[1] - old[0]
    assert stride > 1 and all(s % stride == 0 for s in old) and old[0] <= 6000 // 4  # history spans the run
    assert store.list_runs()[0]["steps"] == 6000
    assert sizes[6000] < 1.5 * sizes[1000]  # 6x the steps, not 6x the bytes
    wal = Path(f"{store.db_path}-wal")
    assert not wal.exists() or wal.stat().st_size <= store_mod.WAL_LIMIT_BYTES


def test_corrupt_and_missing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no run store"):
        RunStore(tmp_path / "nowhere").load_run("latest")
    assert RunStore(tmp_path / "nowhere").list_runs() == []
    assert not (tmp_path / "nowhere").exists()  # reading never creates a store

    (tmp_path / store_mod.DB_NAME).write_bytes(b"this is not an sqlite file at all" * 100)
    with pytest.raises(StoreError, match="corrupt or not a deeplocalize store") as info:
        RunStore(tmp_path).list_runs()
    assert "\n" not in str(info.value)
    with pytest.raises(StoreError):
        RunStore(tmp_path).create_run("torch")


def test_unknown_run(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.create_run("torch").close()
    with pytest.raises(StoreError, match="no run 'r0042'"):
        store.load_run("r0042")


def test_writer_error_is_raised_once_then_silent(tmp_path: Path) -> None:
    writer = RunStore(tmp_path).create_run("torch")
    writer._conn.execute("DROP TABLE steps")  # simulate a broken database under a running training
    with pytest.raises(StoreError, match="write failed"):
        for step in range(1, 60):
            writer.write_step(make_record(step))
    writer._retry_at = 0.0
    writer.write_step(make_record(100))  # retried, fails again: no second error during training
    assert writer.error is not None and "no such table" in writer.error
    # the end says once more that the run is not stored completely; the diagnosis itself made it
    with pytest.raises(StoreError, match=r"steps of run r0001 could not be stored"):
        writer.write_diagnosis(Diagnosis(verdict=Verdict.HEALTHY, framework="torch"))
    writer.close()
    assert not writer.complete
    with sqlite3.connect(RunStore(tmp_path).db_path) as conn:
        assert conn.execute("SELECT verdict FROM runs").fetchall() == [("healthy",)]


def _reference_encode(record: StepRecord) -> bytes:
    """The encoder as first written (one JSON header with every row, np.stack): blobs must stay identical."""
    import json
    import zlib

    from deeplocalize import store_codec

    rows: list = []
    vectors = []
    for (layer, channel), vec in record.stats.items():
        rows.append([int(layer), str(channel)])
        vectors.append(np.asarray(vec, dtype=np.float64))
    for name, vec in (("data", record.data), ("target", record.target)):
        if vec is not None:
            rows.append(name)
            vectors.append(np.asarray(vec, dtype=np.float64))
    header = json.dumps(
        {"e": int(record.epoch), "l": record.loss if record.loss is None else float(record.loss),
         "r": record.lr if record.lr is None else float(record.lr),
         "m": {str(k): (None if v is None else float(v)) for k, v in record.metrics.items()},
         "n": summary.N_STATS, "k": rows},
        separators=(",", ":"),
    ).encode()
    matrix = np.stack(vectors).tobytes() if vectors else b""
    return zlib.compress(store_codec._LEN.pack(len(header)) + header + matrix, 1)


def test_encoding_is_byte_identical_whatever_the_key_orders_cached() -> None:
    from deeplocalize import store_codec

    base = make_record(1)
    keys = list(base.stats)
    variants = [keys, keys[::-1], keys[:2], [*keys, (7, Channel.INPUT)], keys[1:]]
    for step in range(1, 40):
        rec = make_record(step, loss=[1.0, None, float("nan"), float("inf")][step % 4])
        order = variants[(step * 3) % 7 % len(variants)]
        rec.stats = {key: rec.stats.get(key, summary.empty()) for key in order}
        if step % 5 == 0:
            rec.stats[order[0]] = rec.stats[order[0]].astype(np.float32)
        rec.target = rec.data if step % 3 == 0 else None
        rec.metrics = {"accuracy": 0.5, "val_loss": float("nan")} if step % 2 else {}
        blob = store_codec.encode(rec)
        assert blob == _reference_encode(rec), step
        back = store_codec.decode(step, blob)
        assert list(back.stats) == list(rec.stats)  # a stale row-name cache would mislabel the rows
        for key, vec in rec.stats.items():
            assert np.array_equal(back.stats[key], vec, equal_nan=True)


# ---------------------------------------------------------------------- a store that cannot be written
def stored_steps(store: RunStore, run_id: str) -> list[int]:
    return [r.step for r in store.load_run(run_id).records]


def test_failed_writes_are_kept_and_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writes fail for a long stretch (more deletions queued than the cap), then the disk has room again:
    the store ends up with exactly what a writer that never failed keeps; the error was raised once."""
    monkeypatch.setattr(store_writer, "FLUSH_STEPS", 10)
    reference = RunStore(tmp_path / "ref").create_run("torch", config=Config(window=20, history=8))
    store = RunStore(tmp_path / "flaky")
    writer = store.create_run("torch", config=Config(window=20, history=8))
    full = {"now": False}
    writer._conn = FlakyConnection(writer._conn, lambda sql: full["now"])
    errors = []
    for step in range(1, 801):
        full["now"] = 100 < step <= 700
        writer._retry_at = 0.0  # no waiting in a test: every flush is a retry
        for w in (reference, writer):
            try:
                w.write_step(make_record(step))
            except StoreError as exc:
                errors.append(str(exc))
        if step == 400:
            assert writer.error is not None and len(writer._pending) <= 20 + 8  # bounded while failing
            assert writer._prune  # the deletions queued passed the cap
    assert len(errors) == 1 and "database or disk is full" in errors[0] and "retried" in errors[0], errors
    diagnosis = Diagnosis(verdict=Verdict.HEALTHY, framework="torch", steps_observed=800)
    for w in (reference, writer):
        w.write_diagnosis(diagnosis)
        w.close()
    assert writer.complete and writer.error is None
    assert stored_steps(store, writer.run_id) == stored_steps(RunStore(tmp_path / "ref"), reference.run_id)
    assert store.list_runs()[0]["steps"] == 800 and store.list_runs()[0]["verdict"] == "healthy"


def test_write_error_until_the_end(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    writer = store.create_run("torch")
    writer.write_model(ModelInfo("torch", layers=[LayerInfo(0, "fc1", "Linear")]))
    writer._conn = FlakyConnection(writer._conn, lambda sql: True)
    with pytest.raises(StoreError, match=r"database or disk is full\) at step 50: training goes on"):
        for step in range(1, 60):
            writer.write_step(make_record(step))
    for step in range(60, 80):
        writer.write_step(make_record(step))  # silent now
    with pytest.raises(StoreError, match=r"steps and the diagnosis of run r0001 could not be stored"):
        writer.write_diagnosis(Diagnosis(verdict=Verdict.HEALTHY, framework="torch"))
    writer.close()
    assert not writer.complete and "database or disk is full" in (writer.error or "")
    run = store.load_run(writer.run_id)  # what was written before the disk filled up is still there
    assert run.model.layers[0].name == "fc1" and run.diagnosis is None and run.records == []


def test_model_facts_written_while_failing_are_kept(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    writer = store.create_run("torch")
    full = {"now": True}
    writer._conn = FlakyConnection(writer._conn, lambda sql: full["now"])
    with pytest.raises(StoreError):
        writer.write_model(ModelInfo("keras", layers=[LayerInfo(0, "dense", "Dense")]))
    full["now"] = False
    writer.write_diagnosis(Diagnosis(verdict=Verdict.HEALTHY, framework="keras"))
    writer.close()
    run = store.load_run(writer.run_id)
    assert writer.complete and run.model.layers[0].name == "dense" and run.meta["framework"] == "keras"


def test_unwritable_store_at_creation_is_unavailable_not_corrupt(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fail_store_writes(monkeypatch, lambda sql: True)
    with pytest.raises(store_mod.StoreUnavailableError, match=r"cannot write to run store .*disk is full"):
        RunStore(tmp_path).create_run("torch")
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.undo()
    with pytest.raises(store_mod.StoreUnavailableError, match="cannot create run store"):
        RunStore(blocker / "store").create_run("torch")


def test_locked_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "BUSY_TIMEOUT_S", 0.2)
    store = RunStore(tmp_path)
    writer = store.create_run("torch")
    other = sqlite3.connect(store.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    with pytest.raises(store_mod.StoreUnavailableError, match="database is locked"):
        store.create_run("torch")
    with pytest.raises(StoreError, match="database is locked"):  # a flush gives up fast, keeps the steps
        for step in range(1, 51):
            writer.write_step(make_record(step))
    assert len(writer._pending) == 50
    other.execute("COMMIT")
    other.close()
    writer.write_diagnosis(Diagnosis(verdict=Verdict.HEALTHY, framework="torch"))
    writer.close()
    assert writer.complete and stored_steps(store, writer.run_id) == list(range(1, 51))


def test_read_only_store_is_read_without_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated (root can write anyway): the store is taken as not writable; reading writes nothing."""
    store = RunStore(tmp_path)
    writer = store.create_run("torch", command="train.py")
    for step in range(1, 8):
        writer.write_step(make_record(step))
    writer.write_diagnosis(Diagnosis(verdict=Verdict.HEALTHY, framework="torch", steps_observed=7))
    writer.close()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(before) == {store_mod.DB_NAME}
    monkeypatch.setattr(store_mod, "writable", lambda directory, db_path: False)
    connect = sqlite3.connect
    uris = []
    monkeypatch.setattr(sqlite3, "connect", lambda db, *a, **k: uris.append(str(db)) or connect(db, *a, **k))
    assert [r["id"] for r in RunStore(tmp_path).list_runs()] == [writer.run_id]
    run = RunStore(tmp_path).load_run("latest")
    assert len(run.records) == 7 and run.diagnosis is not None
    assert uris and all(u.startswith("file:") and "mode=ro" in u for u in uris)
    # the database is byte for byte the same (in a writable directory SQLite still sets up its WAL index
    # in a -shm file and an empty -wal; in a read-only one it cannot, see test_cli.py)
    assert store.db_path.read_bytes() == before[store_mod.DB_NAME]
    wal = Path(f"{store.db_path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_writable_checks_the_directory_and_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / store_mod.DB_NAME
    db.write_bytes(b"")
    assert store_mod.writable(tmp_path, db)
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != db)
    assert not store_mod.writable(tmp_path, db)


SIZE_LIMITED_WRITER = """
import resource, signal, sys
import numpy as np
from deeplocalize import summary
from deeplocalize.store import RunStore
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Channel
from deeplocalize.diagnosis import Diagnosis
from deeplocalize.vocabulary import Verdict
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
writer = RunStore(sys.argv[1]).create_run("torch", command="limited.py")
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
errors = []
rng = np.random.default_rng(0)
for step in range(1, 301):
    stats = {(layer, Channel.OUTPUT): summary.summarize(rng.normal(size=(64, 32))) for layer in range(8)}
    try:
        writer.write_step(StepRecord(step=step, loss=1.0 / step, stats=stats))
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
try:
    writer.write_diagnosis(Diagnosis(verdict=Verdict.HEALTHY, framework="torch", steps_observed=300))
except Exception as exc:
    errors.append(f"{type(exc).__name__}: {exc}")
writer.close()
print(len(errors), writer.complete)
print("\\n".join(errors))
"""


def test_file_size_limit_during_the_run(tmp_path: Path) -> None:
    """A real write error (RLIMIT_FSIZE, SIGXFSZ ignored): errors are StoreErrors, raised once during the
    steps and once at the end, and the process goes on to the end."""
    proc = subprocess.run([sys.executable, "-c", SIZE_LIMITED_WRITER, str(tmp_path), str(96 * 1024)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "2 False", proc.stdout
    assert lines[1].startswith("StoreUnavailableError: run store write failed (") and "retried" in lines[1]
    assert "could not be stored" in lines[2]
    run = RunStore(tmp_path).load_run("latest")  # what was committed before the limit is intact
    assert run.records and [r.step for r in run.records] == list(range(1, len(run.records) + 1))


def _create_one(path: str, barrier: Any) -> str:
    barrier.wait()
    return RunStore(path).create_run("torch", command="rank").run_id


def test_processes_creating_a_new_store_at_once_all_get_a_run(tmp_path: Path) -> None:
    """The ranks of a distributed job start together on a store that does not exist yet."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    n = 6
    with ctx.Manager() as manager:
        barrier = manager.Barrier(n)
        with ctx.Pool(n) as pool:
            ids = pool.starmap(_create_one, [(str(tmp_path / "store"), barrier)] * n)
    assert sorted(ids) == [f"r{i:04d}" for i in range(1, n + 1)]
