"""A live one-line status on stderr while ``deeplocalize run`` trains: steps observed, loss, findings so far.

Drawn with ``rich`` (extra ``cli``) and only when the stream is a terminal; otherwise (a pipe, a CI log, no
``rich``) it is silent and costs one attribute check per ``update``. Redraws are throttled, and any error
inside it is swallowed: a status line must never break training.

    with LiveStatus() as status:
        ...                     # once per step (e.g. from the probe's step callback)
        status.update(monitor)
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from types import TracebackType
from typing import Any, TextIO

from deeplocalize.monitor import Monitor


def status_text(monitor: Monitor) -> str:
    """The status line for the monitor's current state (plain text)."""
    trace = monitor.trace
    parts = [f"deeplocalize: step {trace.last_step}", f"{trace.steps_observed} observed"]
    loss = trace.last_record.loss if trace.last_record is not None else None
    if loss is not None:
        parts.append(f"loss {loss:.4g}" if math.isfinite(loss) else f"loss {loss}")
    findings = monitor.findings
    if findings:
        first = findings[0]
        where = f" in `{first.layer.name}`" if first.layer is not None else ""
        more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
        parts.append(f"{len(findings)} finding{'s' if len(findings) > 1 else ''}: "
                     f"{first.symptom}{where} at step {first.step}{more}")
    else:
        parts.append("no findings")
    return " · ".join(parts)


class LiveStatus:
    """Context manager showing ``status_text`` on one refreshing line of ``stream`` (default stderr).

    ``enabled``: force on or off; by default on only when ``stream`` is a terminal (and ``TERM`` is not
    "dumb") and ``rich`` is installed. ``min_interval``: seconds between redraws.
    """

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None,
                 min_interval: float = 0.2) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = _is_terminal(self.stream)
        self.min_interval = min_interval
        self.text = ""  # the last status shown (also kept when disabled, for tests and callers)
        self._live: Any = None
        self._last_draw = -math.inf
        self._enabled = enabled
        self.enabled = False  # becomes True once the live display is started

    def __enter__(self) -> LiveStatus:
        if self._enabled:
            try:
                from rich.console import Console
                from rich.live import Live
                from rich.text import Text

                console = Console(file=self.stream, stderr=self.stream is sys.stderr)
                self._text_cls = Text
                self._live = Live(Text(""), console=console, transient=True, auto_refresh=False,
                                  redirect_stdout=False, redirect_stderr=False)
                self._live.start()
                self.enabled = True
            except Exception:
                self._live = None
        return self

    def update(self, monitor: Monitor, force: bool = False) -> None:
        """Redraw from the monitor (at most every ``min_interval`` seconds unless ``force``)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        try:
            self.text = status_text(monitor)
            style = "bold red" if monitor.fault_confirmed else "dim"
            self._live.update(self._text_cls(self.text, style=style, no_wrap=True, overflow="ellipsis"),
                              refresh=True)
        except Exception:
            self.close()

    def close(self) -> None:
        """Remove the line and stop drawing."""
        live, self._live = self._live, None
        self.enabled = False
        if live is not None:
            with contextlib.suppress(Exception):
                live.stop()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
