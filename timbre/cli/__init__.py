"""The ``timbre`` command: every app action from a shell (also ``python -m timbre``).

Each command group lives in its own module and adds its own sub-parsers (``add_commands``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from timbre.cli import (
    data,
    evaluate,
    live,
    models,
    people,
    personality,
    presenter,
    recommend,
    serve,
    similarity,
)
from timbre.cli.common import Handler
from timbre.config import load_settings
from timbre.errors import TimbreError

#: The command groups, in the order ``timbre --help`` lists them.
GROUPS = (
    data,
    live,
    models,
    similarity,
    recommend,
    people,
    personality,
    evaluate,
    presenter,
    serve,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so tests and docs can inspect it)."""
    parser = argparse.ArgumentParser(
        prog="timbre",
        description="Timbre: music-recommendation workbench (store, models, hybrid, export).",
    )
    parser.add_argument("--db", help="SQLAlchemy database URL (default: SQLite under --home)")
    parser.add_argument(
        "--home", help="folder for local state (default: TIMBRE_HOME or data/local)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(sub)
    return parser


def _fail(text: str, code: int = 1) -> int:
    print(f"timbre: {text}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 expected error, 2 usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command == "runs" and args.action in ("activate", "delete") and args.run_id is None:
        parser.error(f"runs {args.action} needs a run id")
    try:
        settings = load_settings(home=args.home, database_url=args.db)
        handler: Handler = args.handler
        return handler(args, settings)
    except TimbreError as exc:
        return _fail(f"error: {exc}")
    except OSError as exc:  # a path that cannot be read or written: one line, no traceback
        return _fail(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


__all__ = ["build_parser", "main"]
