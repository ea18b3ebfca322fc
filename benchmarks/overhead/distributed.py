"""Overhead of the distributed path: deeplocalize on N gloo ranks (DDP) against one process, same workload.

    python -m benchmarks.overhead.distributed                     # mlp and cnn, 2 and 4 ranks, 20 rounds
    python -m benchmarks.overhead.distributed --workloads mlp --ranks 2 --rounds 5 --steps 40 --no-docs

Each configuration runs in its own processes (one process; ``torchrun --nproc_per_node N`` with DDP), and
inside each process plain and watched rounds alternate (plain, watched, plain, ...) after a warm-up, as in
``benchmarks.overhead.run``: each round's ratio is watched / plain CPU time per step of that process (all of
its threads: gloo's communication included), one torch thread per process; the figure is the median ratio
over rounds (of rank 0). The distributed path adds to each optimizer step one ``all_gather`` of 2 numbers per
rank (the ranks' agreement, ``probes/torch_dist.py``), timed on its own too (CPU time of one agreement).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

WORKER = "--worker"


def worker(workload_name: str, rounds: int, steps: int) -> None:
    """One process (one rank under torchrun): alternate plain and watched rounds, print rank 0's ratios."""
    import torch.distributed as dist

    import deeplocalize as dl
    from benchmarks.overhead.workloads import TORCH_WORKLOADS

    torch.set_num_threads(1)
    distributed = "WORLD_SIZE" in os.environ
    if distributed:
        dist.init_process_group("gloo")
    work = TORCH_WORKLOADS[workload_name]()
    if distributed:
        work.model = torch.nn.parallel.DistributedDataParallel(work.model)
    for i in range(10):  # warm-up
        work.step(i)

    def timed(watched: bool) -> float:
        if distributed:
            dist.barrier()
        start = time.process_time()
        if watched:
            with dl.watch(work.model, work.optimizer, on_fault="continue", store=False):
                for i in range(steps):
                    work.step(i)
        else:
            for i in range(steps):
                work.step(i)
        return (time.process_time() - start) / steps

    ratios, plain_ms = [], []
    for _ in range(rounds):
        plain = timed(False)
        ratios.append(timed(True) / plain)
        plain_ms.append(plain * 1e3)
    agree_ms = None
    if distributed:  # one agreement of the ranks alone (the all-gather deeplocalize runs every 20 steps)
        from deeplocalize.probes.torch_dist import Job

        job = Job()
        job.active()
        start = time.process_time()
        for _ in range(200):
            job.agree(False, False, 1.0)
        agree_ms = (time.process_time() - start) / 200 * 1e3
    if not distributed or dist.get_rank() == 0:
        print(json.dumps({"ratios": ratios, "plain_ms": statistics.median(plain_ms), "agree_ms": agree_ms}),
              flush=True)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


def measure(workload: str, ranks: int, rounds: int, steps: int) -> dict:
    """Run one configuration; its rank 0's ratios."""
    args = ["-m", "benchmarks.overhead.distributed", WORKER, workload, str(rounds), str(steps)]
    if ranks > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(ranks),
               *args]
    else:
        cmd = [sys.executable, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    line = next((x for x in out.stdout.splitlines() if x.startswith("{")), None)
    if line is None:  # (a gloo process group sometimes aborts at teardown, after rank 0 has printed: kept)
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(line)


def write_block(doc: Path, lines: list[str]) -> None:
    """Replace the text between the ``distributed-overhead`` markers of ``doc``."""
    start, end = "<!-- distributed-overhead:start -->", "<!-- distributed-overhead:end -->"
    text = doc.read_text()
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    doc.write_text(f"{head}{start}\n" + "\n".join(lines) + f"\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == WORKER:
        worker(argv[1], int(argv[2]), int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="mlp,cnn")
    parser.add_argument("--ranks", default="2,4", help="comma-separated numbers of ranks")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/distributed.md")
    args = parser.parse_args(argv)
    lines = [f"`python -m benchmarks.overhead.distributed --workloads {args.workloads} --ranks {args.ranks} "
             f"--rounds {args.rounds} --steps {args.steps}`, torch {torch.__version__}, CPU time, 1 thread "
             f"per process, {os.cpu_count()} cores", "",
             "| workload | processes | plain ms/step | overhead (watched / plain) | against 1 process | "
             "added ms/step | one agreement, ms |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    for name in args.workloads.split(","):
        single = measure(name, 1, args.rounds, args.steps)
        one = statistics.median(single["ratios"])
        lines.append(f"| {name} | 1 | {single['plain_ms']:.2f} | {one:.3f}x | | "
                     f"{(one - 1) * single['plain_ms']:.2f} | |")
        print(lines[-1], flush=True)
        for ranks in (int(r) for r in args.ranks.split(",")):
            ddp = measure(name, ranks, args.rounds, args.steps)
            many = statistics.median(ddp["ratios"])
            lines.append(f"| {name} | {ranks} (DDP, gloo) | {ddp['plain_ms']:.2f} | {many:.3f}x | "
                         f"{(many - one) * 100:+.1f} points | {(many - 1) * ddp['plain_ms']:.2f} | "
                         f"{ddp['agree_ms']:.2f} |")
            print(lines[-1], flush=True)
    if not args.no_docs:
        write_block(Path(__file__).resolve().parents[2] / "docs" / "distributed.md", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
