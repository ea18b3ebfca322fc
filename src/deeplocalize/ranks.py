"""This process's rank in a distributed job as its launcher (``torchrun``) states it in the environment,
known before any process group exists (so the run can be named for its rank when it is created)."""

from __future__ import annotations

import os


def env_rank() -> tuple[int | None, int | None]:
    """(rank, world size) from ``RANK`` and ``WORLD_SIZE``; (None, None) outside a launcher."""
    try:
        rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
        return (int(rank) if rank else None), (int(world) if world else None)
    except ValueError:
        return None, None


def tagged(command: str | None) -> str | None:
    """The command of a stored run, with ``(rank r of n)`` in a distributed job of several ranks."""
    rank, world = env_rank()
    if rank is None or not world or world < 2:
        return command
    return f"{command or ''} (rank {rank} of {world})".strip()
