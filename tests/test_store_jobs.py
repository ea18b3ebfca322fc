"""The ranks of a distributed job as one run in the store (``RunWriter.join_job``, ``RunStore.list_runs``,
``load_run(rank=)``), the CLI's view of it, and stores of schema 1 (before jobs). The models of a script
that trained several as one run (``open_model``, ``load_run(model=)``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from deeplocalize import store as store_mod
from deeplocalize import store_writer
from deeplocalize.cli import main
from deeplocalize.diagnosis import Diagnosis
from deeplocalize.errors import StoreError
from deeplocalize.monitor import Monitor
from deeplocalize.store import RunStore
from deeplocalize.store_writer import RunWriter
from deeplocalize.trace import StepRecord
from deeplocalize.vocabulary import Verdict


def rank_run(store: RunStore, rank: int, steps: int) -> RunWriter:
    writer = store.create_run("torch", command=f"train.py (rank {rank} of 2)")
    for step in range(1, steps + 1):
        writer.write_step(StepRecord(step=step, loss=float(rank + step)))
    return writer


def finish(writer: RunWriter, steps: int) -> None:
    writer.write_diagnosis(Diagnosis(verdict=Verdict.HEALTHY, framework="torch", steps_observed=steps))
    writer.close()


def test_the_ranks_of_a_job_are_one_run_with_each_ranks_own_steps(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    rank1 = rank_run(store, 1, 3)  # created first: the job is still rank 0's run
    rank0 = rank_run(store, 0, 3)
    for rank, writer in ((0, rank0), (1, rank1)):
        writer.join_job(rank0.job_key(), rank, 2)
        writer.write_step(StepRecord(step=4, loss=float(rank + 4)))
        finish(writer, 4)
    listed = store.list_runs()
    assert [r["id"] for r in listed] == [rank0.run_id] and listed[0]["world_size"] == 2
    assert [(r["rank"], r["id"], r["steps"], r["verdict"]) for r in listed[0]["ranks"]] == [
        (0, rank0.run_id, 4, "healthy"), (1, rank1.run_id, 4, "healthy")]
    assert store.resolve("latest") == rank0.run_id  # not rank 1's run, although created earlier
    job = store.load_run("latest")
    assert [r.loss for r in job.records] == [1.0, 2.0, 3.0, 4.0]
    assert [r["rank"] for r in job.meta["ranks"]] == [0, 1]
    assert [r.loss for r in store.load_run("latest", rank=1).records] == [2.0, 3.0, 4.0, 5.0]
    assert store.load_run(rank1.run_id).meta["rank"] == 1  # a rank's own id still names its run
    with pytest.raises(StoreError, match="has no rank 2 stored"):
        store.load_run("latest", rank=2)


def test_a_rank_stored_in_another_file_stays_a_run_of_its_own_tagged_with_its_rank(tmp_path: Path) -> None:
    leader = rank_run(RunStore(tmp_path / "node0"), 0, 2)
    other = RunStore(tmp_path / "node1")
    writer = rank_run(other, 1, 2)
    writer.join_job(leader.job_key(), 1, 2)
    finish(writer, 2)
    finish(leader, 2)
    (listed,) = other.list_runs()
    assert listed["id"] == writer.run_id and "ranks" not in listed
    run = other.load_run(writer.run_id)
    assert (run.meta["rank"], run.meta["world_size"], run.meta["job"]) == (1, 2, None)


def test_a_monitor_joins_its_job_once_and_a_store_error_there_never_raises(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    writer = rank_run(store, 0, 1)
    monitor = Monitor("torch", recorder=writer)
    monitor.join(0, 2, monitor.job_key())
    monitor.join(0, 2, "elsewhere#r9")  # the same rank again: nothing changes
    monitor.finish()
    assert store.list_runs()[0]["ranks"][0]["rank"] == 0

    class Broken:
        def job_key(self) -> str:
            raise OSError("gone")

        def join_job(self, leader: str | None, rank: int, world_size: int) -> None:
            raise OSError("gone")

    broken = Monitor("torch", recorder=Broken())  # type: ignore[arg-type]
    assert broken.job_key() is None
    broken.join(1, 2, "x#r1")
    assert broken.rank == 1 and any("gone" in e for e in broken.tool_errors)


def test_the_cli_lists_a_job_once_and_reads_any_rank(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunStore(tmp_path)
    rank0, rank1 = rank_run(store, 0, 5), rank_run(store, 1, 3)
    for rank, writer in ((0, rank0), (1, rank1)):
        writer.join_job(rank0.job_key(), rank, 2)
    finish(rank0, 5)
    rank1.close()  # no diagnosis: as a rank that was killed
    monkeypatch.setattr(store_mod, "_alive", lambda pid: False)
    assert main(["runs", "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    line = [ln for ln in out.splitlines() if ln.startswith(rank0.run_id)]
    assert len(out.strip().splitlines()) == 2 and line
    assert "healthy (2 ranks; rank 1 interrupted)" in line[0] and line[0].endswith("train.py")
    assert main(["report", "latest", "--rank", "1", "--store", str(tmp_path)]) == 3  # 3 steps: inconclusive
    assert f"Run {rank0.run_id} rank 1 of 2 ended without a diagnosis" in capsys.readouterr().out
    assert main(["analyze", "latest", "--rank", "7", "--store", str(tmp_path)]) == 2
    assert "has no rank 7 stored (ranks 0, 1)" in capsys.readouterr().err


def make_v1_store(path: Path) -> RunStore:
    """A store as schema 1 wrote it (no job columns), holding one finished run of 2 steps."""
    store = RunStore(path)
    finish(rank_run(store, 0, 2), 2)
    conn = sqlite3.connect(store.db_path)
    conn.execute("CREATE TABLE runs1 AS SELECT id, seq, created, framework, command, status, steps,"
                 " last_step, verdict, config, model, diagnosis, pid, host FROM runs")
    conn.execute("DROP TABLE runs")
    conn.execute("ALTER TABLE runs1 RENAME TO runs")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    conn.commit()
    conn.close()
    return store


def test_a_schema_1_store_is_read_as_it_is_and_upgraded_when_written(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_v1_store(tmp_path)
    with monkeypatch.context() as patch:  # read-only: nothing is added
        patch.setattr(store_mod, "writable", lambda directory, db_path: False)
        assert [r["id"] for r in store.list_runs()] == ["r0001"] and store.resolve("latest") == "r0001"
        assert len(store.load_run("latest", rank=0).records) == 2
    conn = sqlite3.connect(store.db_path)
    assert "job" not in {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    conn.close()
    finish(rank_run(store, 0, 1), 1)  # writing upgrades it
    conn = sqlite3.connect(store.db_path)
    added = {"job", "rank", "world_size", "parent", "model_index"}
    assert added <= {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == "3"
    conn.close()
    assert [r["id"] for r in store.list_runs()] == ["r0001", "r0002"]


def test_a_store_of_a_newer_schema_is_refused_with_one_line(tmp_path: Path) -> None:
    store = make_v1_store(tmp_path)
    conn = sqlite3.connect(store.db_path)
    conn.execute("UPDATE meta SET value = '9' WHERE key = 'schema'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="has schema 9; this version reads 1, 2, 3"):
        store.list_runs()


def test_a_rank_whose_verdict_differs_from_rank_0s_is_named_on_the_jobs_line(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = RunStore(tmp_path)
    rank0, rank1 = rank_run(store, 0, 3), rank_run(store, 1, 3)
    for rank, writer in ((0, rank0), (1, rank1)):
        writer.join_job(rank0.job_key(), rank, 2)
    finish(rank0, 3)
    rank1.write_diagnosis(Diagnosis(verdict=Verdict.FAULTY, framework="torch", steps_observed=3))
    rank1.close()
    assert main(["runs", "--store", str(tmp_path)]) == 0
    assert "healthy (2 ranks; rank 1 faulty)" in capsys.readouterr().out


def test_each_model_of_a_script_is_stored_as_part_of_the_first_ones_run(tmp_path: Path) -> None:
    """A monitor's siblings (the script's other models) write their steps through ``open_model``: one run is
    listed, ``latest`` is it, and ``load_run(model=N)`` / ``load_models`` read each model's own steps."""
    store = RunStore(tmp_path)
    monitor = Monitor("torch", recorder=store.create_run("torch", command="gan.py"))
    second = monitor.spawn()
    for step in range(1, 4):
        monitor.record(StepRecord(step=step, loss=1.0 / step))
        second.record(StepRecord(step=step, loss=2.0 / step))
    second.record(StepRecord(step=4, loss=0.5))
    monitor.finish(completed=True)
    assert monitor.tool_errors == []
    (listed,) = store.list_runs()
    assert store.resolve("latest") == listed["id"]
    first = store.load_run("latest")
    assert [m["model_index"] for m in first.meta["models"]] == [1] and len(first.records) == 3
    assert [r.loss for r in store.load_run("latest", model=1).records] == [2.0, 1.0, 2.0 / 3, 0.5]
    assert [len(m.records) for m in store.load_models("latest")] == [3, 4]
    with pytest.raises(StoreError, match="has no model 2 stored"):
        store.load_run("latest", model=2)


def test_past_max_models_a_models_steps_are_not_stored_and_that_is_said_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_writer, "MAX_MODELS", 1)
    store = RunStore(tmp_path)
    monitor = Monitor("torch", recorder=store.create_run("torch"))
    kept, *later = [monitor.spawn() for _ in range(3)]
    for model in (monitor, kept, *later):
        model.record(StepRecord(step=1, loss=1.0))
    monitor.finish(completed=True)
    assert kept.recorder is not None and [m.recorder for m in later] == [None, None]
    assert monitor.tool_errors == ["store: the steps of a script's models after the first 2 are not stored "
                                   "(they are diagnosed all the same)"]
    assert [len(m.records) for m in store.load_models("latest")] == [1, 1]


def test_a_model_whose_run_cannot_be_created_is_a_tool_error_not_a_crash(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    writer = store.create_run("torch")

    def refuse(index: int) -> RunWriter:
        raise StoreError("disk is full")

    writer.opener = refuse
    monitor = Monitor("torch", recorder=writer)
    second = monitor.spawn()
    second.record(StepRecord(step=1, loss=1.0))
    monitor.finish(completed=True)
    assert second.recorder is None and monitor.tool_errors == ["store: disk is full"]
    assert "models" not in store.load_run("latest").meta
