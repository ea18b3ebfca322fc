"""Every use of a private or version-specific framework API lives here, behind a function.

A new framework release should break one file, loudly: each function checks what it relies on and raises
``CompatError`` (a one-line reason) when the framework no longer offers it; callers turn that into a tool
error, never into a failure of the user's training. ``torch`` (this package's ``compat.torch``) and
``keras`` (``compat.keras``) are imported only by the probes of that framework.
"""

from __future__ import annotations


class CompatError(RuntimeError):
    """The installed framework lacks an API deeplocalize relies on."""
