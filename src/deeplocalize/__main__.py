"""``python -m deeplocalize``: the same as the ``deeplocalize`` command."""

from deeplocalize.cli import main

raise SystemExit(main())
