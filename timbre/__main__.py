"""Run the ``timbre`` command as ``python -m timbre``."""

from timbre.cli import main

raise SystemExit(main())
