"""``timbre presenter-hash``: the hash of a presenter password, for an exposed app."""

from __future__ import annotations

import argparse
import getpass
import sys

from timbre.cli.common import Commands
from timbre.config import ENV_PRESENTER_HASH, PRESENTER_HASH, Settings
from timbre.errors import ParameterError


def _read_password() -> str:
    """Twice from the terminal (never echoed), or one line from piped stdin."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Presenter password: ")
    if getpass.getpass("Again: ") != first:
        raise ParameterError("the two passwords differ")
    return first


def _hash(args: argparse.Namespace, settings: Settings) -> int:
    from timbre.presenter import hash_password

    print(hash_password(_read_password()))
    print(
        f'Put it in .streamlit/secrets.toml as {PRESENTER_HASH} = "..." or in '
        f"{ENV_PRESENTER_HASH}; the password itself is kept nowhere.",
        file=sys.stderr,
    )
    return 0


def add_commands(sub: Commands) -> None:
    """``presenter-hash``."""
    command = sub.add_parser(
        "presenter-hash",
        help="hash a presenter password (read without echo, or from stdin) for an exposed app",
    )
    command.set_defaults(handler=_hash)
