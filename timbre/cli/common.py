"""What every command group shares: the store, data loading, JSON output, progress lines."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from timbre.config import Settings

if TYPE_CHECKING:  # imported when a command runs, not for ``timbre --help``
    from timbre.interactions import InteractionData
    from timbre.store import Store

log = logging.getLogger("timbre.cli")

#: A command: parsed arguments and settings in, exit status out.
Handler = Callable[[argparse.Namespace, Settings], int]
#: The sub-parsers object every command group adds its commands to.
Commands = Any


def open_store(settings: Settings) -> Store:
    """The store of these settings (opened and migrated)."""
    from timbre.store import Store

    return Store.open(settings)


def print_json(payload: object) -> None:
    """``payload`` as indented, key-sorted JSON on stdout."""
    print(json.dumps(payload, indent=2, sort_keys=True, default=str))


class LineProgress:
    """A long command's progress on one stderr line (a ``ProgressCallback``): its message,
    the share done and the time left at the rate so far; :meth:`close` ends the line."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.shown = False

    def __call__(self, fraction: float, message: str) -> None:
        seconds = time.perf_counter() - self.started
        share = min(max(fraction, 1e-9), 1.0)
        left = seconds * (1 - share) / share
        sys.stderr.write(f"\r{message} ({share:.0%}), about {left:,.0f} s left   ")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        """End the line (if anything was shown), so what follows starts on its own."""
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def load_data(store: Store, dataset: str | None) -> tuple[InteractionData, float]:
    """The interaction data of ``dataset`` (default: the demo's) and the seconds it took."""
    from timbre.services.data import load_data as load

    started = time.perf_counter()
    data = load(store, dataset)
    return data, time.perf_counter() - started


def log_progress(fraction: float, message: str) -> None:
    """A progress callback that logs (shown with ``-v``)."""
    log.info("%3.0f%% %s", 100 * fraction, message)


def ask(prompt: str) -> str:
    """Ask on stderr, read one line from stdin (stdout stays clean for ``--json``)."""
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline().strip()


def missing(value: object) -> bool:
    """``None`` or a pandas missing value."""
    import pandas as pd

    return value is None or bool(pd.isna(value))  # type: ignore[call-overload]


def add_json(parser: argparse.ArgumentParser, what: str = "print as JSON") -> None:
    """The ``--json`` flag."""
    parser.add_argument("--json", action="store_true", help=what)


def add_dataset(parser: argparse.ArgumentParser) -> None:
    """The ``--dataset`` option."""
    parser.add_argument("--dataset", help="data set (default: the demo's, or the only one)")


def add_repeated(parser: argparse.ArgumentParser, flag: str, metavar: str, text: str) -> None:
    """A repeatable ``--flag VALUE`` option collected in a list."""
    parser.add_argument(flag, action="append", default=[], metavar=metavar, help=text)


def ranking_rows(data: InteractionData, items: Any, scores: Any) -> list[dict[str, Any]]:
    """A ranked list of items as rows: ``rank, item_id, name, score``."""
    from timbre.hybrid import items_frame

    return [
        {str(k): v for k, v in row.items()}
        for row in items_frame(data, items, scores).to_dict("records")
    ]


def print_ranking(title: str, rows: list[dict[str, Any]]) -> None:
    """A ranked list, one line per item."""
    print(title)
    for row in rows:
        print(f"{row['rank']:>4}. {row['name']}  ({row['item_id']}, score {row['score']:.4f})")


def print_rows(
    as_json: bool, rows: list[dict[str, Any]], empty: str, line: Callable[[dict[str, Any]], str]
) -> int:
    """``rows`` as JSON, or one ``line(row)`` each (``empty`` when there are none); exit 0."""
    if as_json:
        print_json(rows)
        return 0
    if not rows:
        print(empty)
    for row in rows:
        print(line(row))
    return 0
