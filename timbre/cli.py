"""The ``timbre`` command: every app action from a shell (also ``python -m timbre``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from timbre.config import Settings, load_settings
from timbre.errors import TimbreError

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, Settings], int]


def _open_store(settings: Settings) -> Any:
    from timbre.store import Store

    return Store.open(settings)


def _print_json(payload: object) -> None:
    print(json.dumps(payload, indent=2, sort_keys=True, default=str))


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Load the bundled demo data (idempotent)."""
    from timbre.sources.demo import load_demo

    started = time.perf_counter()
    with _open_store(settings) as store:
        reports = load_demo(store)
    elapsed = time.perf_counter() - started
    if args.json:
        _print_json({"seconds": round(elapsed, 2), "reports": [r.as_dict() for r in reports]})
    else:
        for report in reports:
            print(report.summary())
        print(f"demo ready in {elapsed:.1f} s")
    return 0


def _parse_columns(pairs: Sequence[str]) -> dict[str, str] | None:
    columns: dict[str, str] = {}
    for pair in pairs:
        role, sep, name = pair.partition("=")
        if not sep or not role.strip() or not name.strip():
            raise TimbreError(f"--column expects ROLE=NAME (e.g. user=listener), got {pair!r}")
        columns[role.strip()] = name.strip()
    return columns or None


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """Import a file, folder or zip in one transaction and print its report."""
    from timbre.sources.files import read_path

    batch = read_path(
        Path(args.path),
        args.format,
        dataset=args.dataset,
        user=args.user,
        min_play_ms=int(args.min_play_seconds * 1000),
        columns=_parse_columns(args.column),
    )
    with _open_store(settings) as store:
        report = store.write_batch(batch)
    if args.json:
        _print_json(report.as_dict())
    else:
        print(report.summary())
    return 0


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    """Print what the store holds: users, items per kind, interactions, per data set."""
    with _open_store(settings) as store:
        stats = store.stats()
    if args.json:
        _print_json(stats)
        return 0
    items = ", ".join(f"{n:,} {kind}s" for kind, n in stats["items"].items())
    print(f"users {stats['users']:,}; items: {items}; interactions {stats['interactions']:,}")
    catalog = stats["catalog"]
    print(f"catalogue: {catalog['tracks']:,} tracks by {catalog['artists']:,} artists")
    for name, ds in stats["datasets"].items():
        rate = ds.get("catalog_match_rate")
        shown = "n/a" if rate is None else f"{rate:.1%}"
        print(
            f"  {name} ({ds['source']}): {ds['users']:,} users, {ds['items']:,} items, "
            f"{ds['interactions']:,} interactions, catalogue match {shown}"
        )
    return 0


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

    demo = sub.add_parser("demo", help="load the bundled demo data (HetRec 2K + Spotify catalogue)")
    demo.add_argument("--json", action="store_true", help="print the import reports as JSON")
    demo.set_defaults(handler=cmd_demo)

    imp = sub.add_parser("import", help="import a file, folder or zip (format auto-detected)")
    imp.add_argument("path", help="file, folder or .zip to import")
    imp.add_argument("--format", help="force a format (see the README for the list)")
    imp.add_argument("--dataset", help="data set name for the interactions")
    imp.add_argument("--user", help="user name for personal exports (Spotify, Last.fm CSV)")
    imp.add_argument(
        "--min-play-seconds",
        type=float,
        default=30.0,
        help="Spotify exports: drop plays shorter than this (default 30)",
    )
    imp.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="ROLE=NAME",
        help="interactions CSV: map a role (user, item, weight, timestamp) to a column name",
    )
    imp.add_argument("--json", action="store_true", help="print the import report as JSON")
    imp.set_defaults(handler=cmd_import)

    stats = sub.add_parser("stats", help="what the store holds")
    stats.add_argument("--json", action="store_true", help="print as JSON")
    stats.set_defaults(handler=cmd_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 expected error, 2 usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = load_settings(home=args.home, database_url=args.db)
        handler: Handler = args.handler
        return handler(args, settings)
    except TimbreError as exc:
        print(f"timbre: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a path that cannot be read or written: one line, no traceback
        print(
            f"timbre: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("timbre: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
