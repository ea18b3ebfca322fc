"""The verbs of the ``deeplocalize`` command (parsing lives in ``cli.py``, execution in ``cli_exec.py``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from deeplocalize.atomic_io import describe_error
from deeplocalize.cli_exec import Outcome, SignalWatch, ToolError, execute, run_script
from deeplocalize.config import Config
from deeplocalize.crash_hints import crash_hint
from deeplocalize.diagnosis import Diagnosis
from deeplocalize.errors import DeepLocalizeError, StoreUnavailableError
from deeplocalize.model import ModelInfo
from deeplocalize.monitor import Monitor, RunRecorder
from deeplocalize.ranks import tagged
from deeplocalize.report.console import print_diagnosis
from deeplocalize.store import RunStore, StoredRun
from deeplocalize.store_writer import RunWriter
from deeplocalize.trace import Trace
from deeplocalize.vocabulary import OnFault, Verdict

EXIT_HEALTHY, EXIT_FAULTY, EXIT_ERROR, EXIT_INCONCLUSIVE = 0, 1, 2, 3


class UsageError(DeepLocalizeError):
    """Bad command-line input (exit status 2)."""


# ---------------------------------------------------------------------- settings
def apply_settings(config: Config, pairs: list[str]) -> Config:
    """``config`` with ``NAME=VALUE`` overrides, each parsed as the type of the field's current value.

    Every value is checked against ``Config.validate`` (type and range) here, before anything runs.
    """
    fields = {f.name for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--set expects NAME=VALUE, got {pair!r}")
        if name not in fields:
            raise UsageError(f"unknown setting {name!r}; valid names: {', '.join(sorted(fields))}")
        changes[name] = _parse_value(name, text.strip(), getattr(config, name))
        try:
            config.replace(**{name: changes[name]})
        except ValueError as exc:
            raise UsageError(f"--set {pair.strip()}: {str(exc).removeprefix('Config.')}") from exc
    try:
        return config.replace(**changes)
    except ValueError as exc:  # a rule across fields
        raise UsageError(f"--set: {str(exc).removeprefix('Config.')}") from exc


def _parse_value(name: str, text: str, current: Any) -> Any:
    try:
        if isinstance(current, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            return float(text)
        if isinstance(current, str):
            return text
        return json.loads(text)  # None, lists, dicts: JSON
    except ValueError as exc:
        kind = type(current).__name__ if current is not None else "JSON value"
        raise UsageError(f"--set {name}: cannot read {text!r} as {kind}") from exc


# ---------------------------------------------------------------------- outputs
def write_outputs(diagnosis: Diagnosis, args: argparse.Namespace, trace: Trace | None,
                  model: ModelInfo | None) -> bool:
    """Write the --json / --html / --tensorboard files asked for; False (and a message) if one failed."""
    ok = True
    jobs = [
        ("JSON", getattr(args, "json", None), lambda p: diagnosis.save_json(p)),
        ("HTML report", getattr(args, "html", None), lambda p: _html(diagnosis, p, trace, model)),
        ("TensorBoard log", getattr(args, "tensorboard", None),
         lambda p: _tensorboard(diagnosis, p, trace, model)),
    ]
    for what, path, write in jobs:
        if not path:
            continue
        try:
            write(path)  # atomic: on failure no partial file is left behind
        except ImportError as exc:
            print(f"deeplocalize: cannot write the {what}: {exc}", file=sys.stderr)
            ok = False
        except Exception as exc:  # a report writer's failure must not hide the diagnosis already shown
            print(f"deeplocalize: cannot write the {what} to {path}: {describe_error(exc)}", file=sys.stderr)
            ok = False
    return ok


def _html(diagnosis: Diagnosis, path: str, trace: Trace | None, model: ModelInfo | None) -> None:
    try:
        from deeplocalize.report.html import write_html
    except ImportError as exc:
        raise ImportError(f"the HTML report is not available in this installation ({exc})") from exc
    write_html(diagnosis, path, trace=trace, model=model)


def _tensorboard(diagnosis: Diagnosis, path: str, trace: Trace | None, model: ModelInfo | None) -> None:
    try:
        from deeplocalize.report.tensorboard import write_tensorboard
    except ImportError as exc:
        raise ImportError(f"TensorBoard output is not available in this installation ({exc})") from exc
    write_tensorboard(path, trace, diagnosis, model=model)


def _show(diagnosis: Diagnosis, args: argparse.Namespace, stream: TextIO, note: str | None = None) -> None:
    if getattr(args, "quiet", False):
        return
    print_diagnosis(diagnosis, file=stream)
    if note:
        print(note, file=stream)


def verdict_status(diagnosis: Diagnosis) -> int:
    """1 faulty, 3 inconclusive (no training step, or too few to judge), 0 healthy (warnings allowed)."""
    if diagnosis.faulty:
        return EXIT_FAULTY
    return EXIT_INCONCLUSIVE if diagnosis.verdict == Verdict.INCONCLUSIVE else EXIT_HEALTHY


# ---------------------------------------------------------------------- run / demo
@dataclasses.dataclass
class Session:
    """A run or demo: how it ended, and where (whether) it was stored."""

    outcome: Outcome
    writer: RunWriter | None  # None: the run could not even be created in the store
    store_error: str | None  # why not, then

    @property
    def stored(self) -> bool:
        return self.writer is not None and self.writer.complete

    def not_stored(self) -> str | None:
        """One line saying that (and why) the run is not, or not completely, stored; None if it is."""
        if self.writer is None:
            return f"not stored: {self.store_error}"
        if not self.writer.complete:
            why = self.writer.error or "the run store could not be written"
            return f"run {self.writer.run_id} is not stored completely: {why}"
        return None


def _session(args: argparse.Namespace, command: str, config: Config, on_fault: str,
             target: Any, label: str, signals: SignalWatch) -> Session:
    """Create the run in the store and execute ``target``; a store that cannot be written is a tool error
    (recorded in the diagnosis) and the training runs unrecorded. A corrupt store stops here (exit 2)."""
    store_error: StoreUnavailableError | None = None
    writer: RunWriter | None = None
    try:
        writer = RunStore(args.store).create_run("torch", command=tagged(command), config=config)
    except StoreUnavailableError as exc:  # disk full, read-only, locked: run anyway, say it once
        store_error = exc

    def make_monitor(recorder: RunRecorder) -> Monitor:
        monitor = Monitor("torch", config, on_fault=OnFault(on_fault), recorder=recorder)
        dump_dir = getattr(args, "dump_dir", None)
        monitor.dump_dir = None if dump_dir is None else Path(dump_dir)
        if store_error is not None:
            monitor.tool_error("store", StoreUnavailableError(f"{store_error}; the run is not recorded"))
        return monitor

    try:
        outcome = execute(target, make_monitor, writer, max_steps=getattr(args, "max_steps", None),
                          live=not getattr(args, "quiet", False), label=label, signals=signals)
    except BaseException:
        if writer is not None:
            writer.close()  # no diagnosis: the run is listed as interrupted
        raise
    return Session(outcome, writer, None if store_error is None else str(store_error))


def _end_status(session: Session, written: bool, signals: SignalWatch) -> int:
    """The exit status of ``run`` / ``demo`` (the order is the CLI contract, see cli.py)."""
    if signals.signum is not None:
        return 128 + signals.signum
    outcome = session.outcome
    if outcome.diagnosis.faulty:
        return EXIT_FAULTY
    if outcome.status:
        return outcome.status
    if not written or not session.stored:
        return EXIT_ERROR
    return verdict_status(outcome.diagnosis)


def _stored_note(session: Session, args: argparse.Namespace, rank: int | None) -> str | None:
    """Where the run is stored and how to report it; a rank of a job stored in the same file is reported
    under the job's run id (the one ``runs`` lists) with ``--rank``."""
    writer = session.writer
    if not session.stored or writer is None:
        return None
    store_opt = "" if args.store is None else f" --store {shlex.quote(args.store)}"
    job = writer.job_id
    if rank and job:
        return f"Stored as rank {rank} of run {job} (deeplocalize report {job} --rank {rank}{store_opt})."
    return f"Stored as run {writer.run_id} (deeplocalize report {writer.run_id}{store_opt})."


def run(args: argparse.Namespace) -> int:
    """``deeplocalize run [OPTIONS] SCRIPT [SCRIPT_ARGS...]``."""
    if not args.script:
        raise UsageError("missing SCRIPT; usage: deeplocalize run [OPTIONS] SCRIPT [SCRIPT_ARGS...]")
    script = Path(args.script)
    if not script.is_file():
        raise UsageError(f"script not found: {args.script}")
    config = apply_settings(Config(), args.set)  # a usage error here leaves no run in the store
    command = shlex.join([args.script, *args.script_args])
    with SignalWatch() as signals:
        session = _session(args, command, config, args.on_fault, run_script(script, args.script_args),
                           label=script.name, signals=signals)
        outcome = session.outcome
        diagnosis = outcome.diagnosis
        if outcome.error:
            print(f"deeplocalize: {outcome.error}; diagnosing the steps that ran", file=sys.stderr)
            hint = crash_hint(outcome.error)
            if hint is not None:
                print(f"deeplocalize: hint: {hint}", file=sys.stderr)
        rank = None if outcome.monitor is None else outcome.monitor.rank
        note = _stored_note(session, args, rank)
        if rank:  # another rank of a distributed job: rank 0 reports for the job and writes its outputs
            if not getattr(args, "quiet", False):
                print(f"deeplocalize: rank {rank} of {outcome.monitor.world_size}: {diagnosis.verdict}; "
                      f"rank 0 reports for the job. {note or ''}".rstrip(), file=sys.stderr)
            _say_not_stored(session)
            return _end_status(session, True, signals)
        _show(diagnosis, args, sys.stderr, note=note)
        _say_not_stored(session)
        written = write_outputs(diagnosis, args, _trace_of(outcome), _model_of(outcome))
        return _end_status(session, written, signals)


def demo(args: argparse.Namespace) -> int:
    """``deeplocalize demo``: train the bundled buggy model under instrumentation and show the diagnosis."""
    try:
        from deeplocalize import demo as demo_module

        demo_module.require()
    except ImportError as exc:
        raise ToolError(f"the demo needs PyTorch: pip install 'deeplocalize[torch]' ({exc})") from exc
    quiet = getattr(args, "quiet", False)
    if not quiet:
        print(demo_module.describe(fixed=args.fixed), flush=True)
    started = time.perf_counter()
    with SignalWatch() as signals:
        session = _session(args, "demo" + (" --fixed" if args.fixed else ""), Config(), "stop",
                           lambda: demo_module.train(fixed=args.fixed), label="the demo", signals=signals)
        outcome = session.outcome
        if outcome.error and signals.signum is None:
            raise ToolError(f"the demo failed: {outcome.error}")
        if not quiet:
            print(f"(trained and diagnosed in {time.perf_counter() - started:.1f} s)\n", flush=True)
        note = None
        if session.stored and session.writer is not None:
            run_id = session.writer.run_id
            note = (f"Stored as run {run_id}: `deeplocalize analyze {run_id} --set NAME=VALUE` re-runs the "
                    "checks.")
        _show(outcome.diagnosis, args, sys.stdout, note=note)
        _say_not_stored(session)
        written = write_outputs(outcome.diagnosis, args, _trace_of(outcome), _model_of(outcome))
        return _end_status(session, written, signals)  # faulty (1) by design; healthy (0) with --fixed


def _say_not_stored(session: Session) -> None:
    """One line on stderr (even with --quiet: it is an error) when the run is not (completely) stored."""
    line = session.not_stored()
    if line:
        print(f"deeplocalize: {line}", file=sys.stderr)


def _trace_of(outcome: Outcome) -> Trace | None:
    return None if outcome.monitor is None else outcome.monitor.trace


def _model_of(outcome: Outcome) -> ModelInfo | None:
    return None if outcome.monitor is None else outcome.monitor.model


# ---------------------------------------------------------------------- stored runs
def replay(stored: StoredRun, config: Config,
           others: list[StoredRun] | None = None) -> tuple[Diagnosis, Monitor]:
    """Re-run the detectors on a stored trace: feed its records through a fresh Monitor; ``others``: the
    script's other models, each through a sibling of it (the diagnosis then covers every model). The
    models' steps go in step order, as they came while training in turn (what one model shows about the
    script reaches the others when it did: ``Monitor.policy_models``)."""
    monitor = Monitor(str(stored.meta.get("framework") or stored.model.framework), config,
                      on_fault=OnFault.CONTINUE)
    models = [(stored, monitor), *((o, monitor.spawn()) for o in others or [])]
    for run, target in models:
        target.set_model(run.model)
    steps = sorted(((record.step, k) for k, (run, _) in enumerate(models) for record in run.records))
    feeds = [iter(run.records) for run, _ in models]
    for _, k in steps:
        models[k][1].record(next(feeds[k]))
    stopped = stored.diagnosis.stopped_early if stored.diagnosis is not None else False
    completed = stored.diagnosis is not None and not stopped
    return monitor.finish(stopped_early=stopped, completed=completed), monitor


def analyze(args: argparse.Namespace) -> int:
    """``deeplocalize analyze RUN [--set NAME=VALUE ...]``."""
    store = RunStore(args.store)
    rank, model = getattr(args, "rank", None), getattr(args, "model", None)
    every = ([store.load_run(args.run, rank, model)] if model is not None
             else store.load_models(args.run, rank))
    stored = every[0]
    config = apply_settings(stored.config, args.set)
    if not stored.records:
        raise ToolError(f"run {stored.run_id} has no stored steps to analyze")
    diagnosis, monitor = replay(stored, config, every[1:])
    _show(diagnosis, args, sys.stdout, note=_replay_note(stored))
    written = write_outputs(diagnosis, args, monitor.trace, monitor.model)
    return verdict_status(diagnosis) if written else EXIT_ERROR


def report(args: argparse.Namespace) -> int:
    """``deeplocalize report RUN``: the stored diagnosis (computed from the trace if the run was killed)."""
    stored = RunStore(args.store).load_run(args.run, getattr(args, "rank", None),
                                           getattr(args, "model", None))
    note = None
    diagnosis = stored.diagnosis
    if diagnosis is None:
        if not stored.records:
            raise ToolError(f"run {_run_name(stored.meta)} has neither a diagnosis nor stored steps")
        diagnosis, _ = replay(stored, stored.config)
        note = (f"Run {_run_name(stored.meta)} ended without a diagnosis ({stored.meta['status']}); "
                "computed from its trace.")
    _show(diagnosis, args, sys.stdout, note=note)
    written = write_outputs(diagnosis, args, stored.trace() if stored.records else None, stored.model)
    return verdict_status(diagnosis) if written else EXIT_ERROR


def _replay_note(stored: StoredRun) -> str:
    total = stored.meta.get("steps") or len(stored.records)
    kept = len(stored.records)
    sampled = " (the recent window whole, older steps down-sampled)" if kept < total else ""
    return f"Analyzed run {_run_name(stored.meta)}: {kept} stored steps of {total}{sampled}."


def _run_name(meta: dict) -> str:
    """``r0007``, or ``r0007 rank 1 of 2`` for a rank of a distributed job."""
    job, rank, world = meta.get("job"), meta.get("rank"), meta.get("world_size")
    if rank is None or not world:
        return str(meta["id"])
    return f"{job or meta['id']} rank {rank} of {world}"


def runs(args: argparse.Namespace) -> int:
    """``deeplocalize runs``: one line per stored run."""
    store = RunStore(args.store)
    rows = store.list_runs()
    if not rows:
        print(f"no runs stored in {store.path}")
        return EXIT_HEALTHY
    table = [("ID", "DATE", "FRAMEWORK", "STEPS", "VERDICT", "COMMAND")]
    for row in rows:
        table.append((
            row["id"],
            time.strftime("%Y-%m-%d %H:%M", time.localtime(row["created"])),
            row["framework"],
            str(row["steps"]),
            (row["verdict"] or row["status"]) + (f" ({row['models']} models)" if row.get("models") else "")
            + _ranks_note(row),
            _job_command(row),
        ))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]) - 1)]
    for r in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False)) + "  " + r[-1])
    return EXIT_HEALTHY


def _ranks_note(row: dict) -> str:
    """`` (2 ranks)`` for a distributed job, naming the ranks that did not finish (``rank 1 interrupted``)
    and those whose verdict differs from rank 0's (``rank 1 faulty``)."""
    ranks = row.get("ranks")
    if not ranks:
        return ""
    odd = [f"rank {r['rank']} {r['status']}" for r in ranks if r["status"] != "finished"]
    odd += [f"rank {r['rank']} {r['verdict']}" for r in ranks
            if r["status"] == "finished" and r["verdict"] not in (None, row.get("verdict"))]
    world = row.get("world_size") or len(ranks)
    stored = "" if len(ranks) == world else f", {len(ranks)} stored"
    return f" ({world} ranks{stored}{''.join('; ' + o for o in odd)})"


def _job_command(row: dict) -> str:
    """The command, without the ``(rank 0 of N)`` tag when the line stands for the whole job."""
    command = str(row["command"] or "")
    if row.get("ranks"):
        command = command.removesuffix(f"(rank 0 of {row.get('world_size')})").rstrip()
    return command


# ---------------------------------------------------------------------- bench
def bench(argv: list[str]) -> int:
    """``deeplocalize bench ...``: call ``benchmarks/bench.py``'s ``main(argv)`` from the repository."""
    root = find_repository()
    if root is None:
        raise ToolError("benchmarks/bench.py not found: run `deeplocalize bench` from a clone of the "
                        "deeplocalize repository (editable install, or its root as the working directory)")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import importlib

    module = importlib.import_module("benchmarks.bench")
    return int(module.main(list(argv)) or 0)


def find_repository() -> Path | None:
    """The repository root holding ``benchmarks/bench.py``: next to the package source, or the cwd."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[2], Path.cwd()):
        if (candidate / "benchmarks" / "bench.py").is_file():
            return candidate
    return None
