"""``timbre demo``, ``import``, ``stats`` and ``forget``: what goes into the store, what it holds,
and taking a person out of it."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from timbre.cli.common import Commands, add_json, add_repeated, open_store, print_json
from timbre.config import Settings
from timbre.errors import ParameterError, TimbreError

if TYPE_CHECKING:
    from timbre.records import ImportReport
    from timbre.sources.interactions_csv import CsvChunks


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Load the bundled demo data (idempotent)."""
    from timbre.sources.demo import load_demo

    started = time.perf_counter()
    with open_store(settings) as store:
        reports = load_demo(store)
    elapsed = time.perf_counter() - started
    if args.json:
        print_json({"seconds": round(elapsed, 2), "reports": [r.as_dict() for r in reports]})
    else:
        for report in reports:
            print(report.summary())
        print(f"demo ready in {elapsed:.1f} s")
    return 0


def parse_columns(pairs: Sequence[str]) -> dict[str, str] | None:
    """``["user=listener"]`` -> ``{"user": "listener"}``; ``None`` when there are none."""
    columns: dict[str, str] = {}
    for pair in pairs:
        role, sep, name = pair.partition("=")
        if not sep or not role.strip() or not name.strip():
            raise ParameterError(f"--column expects ROLE=NAME (e.g. user=listener), got {pair!r}")
        columns[role.strip()] = name.strip()
    return columns or None


class ImportProgress:
    """Prints a streamed import's progress on stderr: rows, share of the file, rows/s, ETA."""

    def __init__(self, chunks: CsvChunks) -> None:
        from timbre.sources.interactions_csv import StreamClock

        self.clock = StreamClock(chunks)

    def __call__(self, report: ImportReport) -> None:
        sys.stderr.write(f"\r{self.clock(report)[1]}   ")
        sys.stderr.flush()


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """Import a file, folder or zip in one transaction and print its report."""
    from timbre.sources.files import chunked_reader, read_path

    chunks = chunked_reader(
        Path(args.path), args.format, dataset=args.dataset, columns=parse_columns(args.column)
    )
    if chunks is not None:
        with open_store(settings) as store:
            report = store.write_batches(chunks, chunks.report, ImportProgress(chunks))
        print("", file=sys.stderr)
        if args.json:
            print_json(report.as_dict())
        else:
            print(report.summary())
        return 0
    batch = read_path(
        Path(args.path),
        args.format,
        dataset=args.dataset,
        user=args.user,
        min_play_ms=int(args.min_play_seconds * 1000),
        columns=parse_columns(args.column),
    )
    with open_store(settings) as store:
        report = store.write_batch(batch)
    if args.json:
        print_json(report.as_dict())
    else:
        print(report.summary())
    return 0


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    """Print what the store holds: users, items per kind, interactions, per data set."""
    with open_store(settings) as store:
        stats = store.stats()
    if args.json:
        print_json(stats)
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


def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    """Delete a person and every row that names them (refuses without ``--yes``)."""
    from timbre.services.people import forget_line, forget_person, resolve_person

    with open_store(settings) as store:
        key = resolve_person(store, args.user)
        if not args.yes:
            would = forget_line(forget_person(store, key, dry_run=True), keep="would keep")
            raise TimbreError(
                f"forget {key} would delete {would}; nothing was deleted: pass --yes to delete"
            )
        payload = forget_person(store, key)
    if args.json:
        print_json(payload)
    else:
        print(f"forgot {key}: deleted {forget_line(payload)}")
    return 0


def cmd_datasets(args: argparse.Namespace, settings: Settings) -> int:
    """List the data sets, or delete one (its interactions; needs ``--yes``)."""
    with open_store(settings) as store:
        if args.action == "list":
            listed = store.list_datasets()
            if args.json:
                print_json(listed)
            for row in [] if args.json else listed:
                print(f"{row['name']} ({row['source']})")
            return 0
        if not args.name:
            raise ParameterError("datasets delete needs the data set's NAME")
        stats = store.stats()["datasets"]
        if args.name not in stats:
            raise TimbreError(f"no data set named {args.name!r}; nothing was deleted")
        count = int(stats[args.name]["interactions"])
        if not args.yes:
            raise TimbreError(
                f"deleting data set {args.name!r} would delete its {count:,} interactions "
                "(users, items and model runs stay); nothing was deleted: pass --yes to delete"
            )
        removed = store.delete_dataset(args.name)
    print(f"deleted data set {args.name!r} and its {removed:,} interactions")
    return 0


def add_commands(sub: Commands) -> None:
    """``demo``, ``import``, ``stats``, ``datasets``, ``forget``."""
    demo = sub.add_parser("demo", help="load the bundled demo data (HetRec 2K + Spotify catalogue)")
    add_json(demo, "print the import reports as JSON")
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
    add_repeated(
        imp,
        "--column",
        "ROLE=NAME",
        "interactions CSV: map a role (user, item, weight, timestamp) to a column name",
    )
    add_json(imp, "print the import report as JSON")
    imp.set_defaults(handler=cmd_import)

    stats = sub.add_parser("stats", help="what the store holds")
    add_json(stats)
    stats.set_defaults(handler=cmd_stats)

    datasets = sub.add_parser("datasets", help="list the data sets, or delete one (needs --yes)")
    datasets.add_argument("action", choices=("list", "delete"))
    datasets.add_argument("name", nargs="?", help="delete: the data set's name")
    datasets.add_argument("--yes", action="store_true", help="really delete")
    add_json(datasets)
    datasets.set_defaults(handler=cmd_datasets)

    forget = sub.add_parser(
        "forget", help="delete a person and every row that names them (needs --yes)"
    )
    forget.add_argument(
        "--user", required=True, help="the person's key (lastfm:rj, me) or its last part"
    )
    forget.add_argument("--yes", action="store_true", help="really delete (without: only counts)")
    add_json(forget, "print what was deleted as JSON")
    forget.set_defaults(handler=cmd_forget)
