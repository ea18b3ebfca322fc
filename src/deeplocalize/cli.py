"""The ``deeplocalize`` command: ``run | analyze | report | runs | demo | bench`` (see docs/architecture.md).

Exit status (the CLI contract): 0 healthy (warnings allowed), 1 faulty, 2 usage or tool error (including a
run store or output file that could not be written), 3 inconclusive (no training step observed, or too few
to judge). ``run`` returns the script's own status when the script failed and no fault was found, and
128 + 15 = 143 after SIGTERM (the diagnosis of what ran is printed and stored first). ``demo`` exits 1: its
model is faulty by design (0 with --fixed). Errors are one line on stderr, never a traceback from
deeplocalize.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable

from deeplocalize import __version__

EXIT_HEALTHY, EXIT_FAULTY, EXIT_ERROR, EXIT_INCONCLUSIVE = 0, 1, 2, 3
RUN_EPILOG = (
    "Exit status: 0 healthy (warnings allowed), 1 faulty, 2 usage or tool error (e.g. the run store or an "
    "output file could not be written; the script still runs and the diagnosis is still printed), "
    "3 inconclusive (no training step observed, or too few to judge). If the script itself fails, the "
    "diagnosis is still written and the status is 1 if a fault was found, else the script's own status. "
    "SIGTERM is handled like Ctrl-C: the diagnosis of what ran is printed and stored, then the status is 143."
)
RUN_USAGE = "deeplocalize run [OPTIONS] SCRIPT [SCRIPT_ARGS...]"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _rank(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every verb except ``bench`` (which forwards its arguments untouched)."""
    parser = argparse.ArgumentParser(
        prog="deeplocalize",
        description="Find and localize faults in PyTorch / Keras 3 training.",
        epilog="`deeplocalize bench [ARGS...]` runs the bug-zoo evaluation (benchmarks/bench.py).",
    )
    parser.add_argument("--version", action="version", version=f"deeplocalize {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--store", metavar="DIR", help="run store directory (default: $DEEPLOCALIZE_DIR "
                       "or ./.deeplocalize)")
    outputs = argparse.ArgumentParser(add_help=False)
    outputs.add_argument("--json", metavar="PATH",
                         help="write the diagnosis as JSON (deeplocalize.diagnosis/1)")
    outputs.add_argument("--html", metavar="PATH", help="write the HTML report")
    outputs.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard event files")
    outputs.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    settings = argparse.ArgumentParser(add_help=False)
    settings.add_argument("--set", metavar="NAME=VALUE", action="append", default=[],
                          help="override a threshold of deeplocalize.Config (repeatable)")

    run = verbs.add_parser(
        "run", parents=[store, outputs, settings], usage=RUN_USAGE,
        help="run a training script under instrumentation and diagnose it",
        description="Run SCRIPT (with SCRIPT_ARGS) as __main__ under instrumentation. Options go before "
                    "the script path; everything after it goes to the script.",
        epilog=RUN_EPILOG,
    )
    run.add_argument("--on-fault", choices=("stop", "continue"), default="stop",
                     help="stop training once a fault is confirmed (default), or record and go on")
    run.add_argument("--max-steps", type=_positive_int, metavar="N", help="stop after N training steps")
    run.add_argument("--dump-on-fault", metavar="DIR", dest="dump_dir",
                     help="save the inputs of a step with NaN/Inf or a loss spike in DIR (torch models)")
    run.add_argument("script", metavar="SCRIPT", nargs="?", help="the training script")
    run.add_argument("script_args", nargs=argparse.REMAINDER, metavar="SCRIPT_ARGS")

    stored_rank = argparse.ArgumentParser(add_help=False)
    stored_rank.add_argument("--rank", type=_rank, metavar="N",
                             help="of a distributed job: read rank N's steps and diagnosis (default: the "
                                  "run named; for a job, rank 0, whose diagnosis covers the job)")
    stored_rank.add_argument("--model", type=_rank, metavar="N",
                             help="of a script that trained several models: model N only, in the order "
                                  "they were seen (0 is the first; default: analyze every model, report "
                                  "the diagnosis that covers them all)")
    analyze = verbs.add_parser("analyze", parents=[store, outputs, settings, stored_rank],
                               help="re-run the detectors on a stored run (thresholds overridable)")
    analyze.add_argument("run", metavar="RUN", help="run id (see `deeplocalize runs`), or `latest`")

    report = verbs.add_parser("report", parents=[store, outputs, stored_rank],
                              help="show or export a stored diagnosis")
    report.add_argument("run", metavar="RUN", help="run id (see `deeplocalize runs`), or `latest`")

    verbs.add_parser("runs", parents=[store], help="list stored runs")

    demo_help = "train a bundled buggy PyTorch model and diagnose it (exits 1: the demo model is faulty)"
    demo = verbs.add_parser("demo", parents=[store, outputs], help=demo_help, description=demo_help + ".")
    demo.add_argument("--fixed", action="store_true",
                      help="train the corrected model instead (exits 0: healthy)")
    verbs.add_parser("bench", help="run the bug-zoo evaluation (arguments go to benchmarks/bench.py)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script and ``python -m deeplocalize``."""
    from deeplocalize import cli_commands as commands

    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["bench"]:
        return _guarded(lambda: commands.bench(args_list[1:]))
    try:
        args = build_parser().parse_args(args_list)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    handler = {
        "run": commands.run, "analyze": commands.analyze, "report": commands.report,
        "runs": commands.runs, "demo": commands.demo,
    }[args.verb]
    return _guarded(lambda: handler(args))


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: Python's flush at exit would fail again on the closed pipe."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _guarded(call: Callable[[], int]) -> int:
    """Run a command; our own errors become one line on stderr and exit status 2.

    Set ``DEEPLOCALIZE_DEBUG=1`` to see the traceback of an internal error.
    """
    from deeplocalize.errors import DeepLocalizeError

    try:
        return call()
    except DeepLocalizeError as exc:
        print(f"deeplocalize: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("deeplocalize: interrupted", file=sys.stderr)
    except BrokenPipeError:  # whoever read the output stopped (`| head`): nothing to say, no error of ours
        _quiet_stdout()
    except Exception as exc:
        if os.environ.get("DEEPLOCALIZE_DEBUG"):
            raise
        print(f"deeplocalize: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return EXIT_ERROR
