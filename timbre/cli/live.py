"""``timbre users``, ``fetch`` and ``logs``: the live Last.fm and Spotify connectors."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from timbre.cli import common
from timbre.cli.common import Commands, log, open_store, print_json, print_rows
from timbre.cli.common import missing as is_missing
from timbre.config import Settings
from timbre.errors import TimbreError


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    """List, add or remove users of the live connectors."""
    from timbre.services.collection import (
        live_user_key,
        live_users,
        remove_users,
        track_users,
        unknown_users,
    )

    with open_store(settings) as store:
        if args.action == "add":
            if not args.names:
                raise TimbreError("users add needs at least one Last.fm user name")
            keys = track_users(store, args.names)
            print(f"tracking {', '.join(keys)}; `timbre fetch lastfm` fetches them")
            return 0
        if args.action == "remove":
            if not args.names:
                raise TimbreError("users remove needs at least one user (name or key)")
            keys = [live_user_key(n) for n in args.names]
            missing = unknown_users(store, args.names)
            if missing:
                raise TimbreError(f"no such user(s) in the store: {', '.join(missing)}")
            if not args.yes:
                if not sys.stdin.isatty():
                    raise TimbreError("users remove deletes data: add --yes to confirm")
                answer = common.ask(
                    f"Remove {', '.join(keys)} with all their listening, fetch logs and "
                    "profiles? [y/N] "
                )
                if answer.lower() not in ("y", "yes"):
                    print("nothing removed")
                    return 0
            for key, removed in remove_users(store, args.names).items():
                parts = ", ".join(f"{n:,} {t}" for t, n in removed.items() if n)
                print(f"removed {key}: {parts}")
            return 0
        rows = live_users(store)
    empty = "no live users yet; `timbre users add NAME` tracks a Last.fm user"
    return print_rows(args.json, rows, empty, _user_line)


def _user_line(row: dict[str, Any]) -> str:
    status = row["status"] or "never fetched"
    return (
        f"{row['key']:<32} {row['interactions']:>9,} interactions  {status:<13} {row['datasets']}"
    )


def _print_results(results: Sequence[Any], seconds: float, as_json: bool) -> int:
    from timbre.services.collection import fetch_summary

    made = fetch_summary(results, seconds)
    counts, rows = made["summary"], made["summary"]["new_rows"]
    if as_json:
        print_json(made)
    else:
        for r in results:
            detail = f": {r.error}" if r.error else ""
            print(f"{r.user_key}: {r.status}, {r.rows:,} new rows in {r.duration_s:.1f} s{detail}")
        print(
            f"{len(results)} user(s): {counts['ok']} ok, {counts['partial']} partial, "
            f"{counts['failed']} failed; {rows:,} new rows in {seconds:.1f} s"
        )
    incomplete = counts["partial"] + counts["failed"]
    if incomplete:
        print(
            f"timbre: error: {incomplete} of {len(results)} user(s) did not complete "
            "(`timbre logs` says why)",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_fetch_lastfm(args: argparse.Namespace, settings: Settings) -> int:
    """Fetch Last.fm users (default: every tracked one) under one shared rate limit."""
    from timbre.services.collection import fetch_lastfm
    from timbre.sources.lastfm import DEFAULT_API_ROOT, LastfmOptions
    from timbre.sources.live import FetchProgress

    options = LastfmOptions(
        api_root=args.api_root or settings.lastfm_api_root or DEFAULT_API_ROOT,
        rate=args.rate,
        workers=args.workers,
        timeout=args.timeout,
    )

    def progress(event: FetchProgress) -> None:
        if event.result is not None:
            result = event.result
            print(f"  {result.user}: {result.status}", file=sys.stderr)
        else:
            log.info("%s %3.0f%% %s", event.user, 100 * event.fraction, event.message)

    with open_store(settings) as store:
        started = time.perf_counter()
        results = fetch_lastfm(store, settings, args.users, args.kinds, options, progress)
    return _print_results(results, time.perf_counter() - started, args.json)


def cmd_fetch_spotify(args: argparse.Namespace, settings: Settings) -> int:
    """Sign in to Spotify (PKCE: open the link, paste where it sent you) and fetch."""
    from timbre.sources.spotify import (
        DEFAULT_ACCOUNTS_ROOT,
        DEFAULT_API_ROOT,
        DEFAULT_REDIRECT_URI,
        MappingTokenCache,
        SpotifyClient,
        SpotifyFetcher,
        SpotifyOptions,
        finish_authorization,
        parse_kinds,
        start_authorization,
    )

    kinds = parse_kinds(args.kinds)
    options = SpotifyOptions(
        client_id=args.client_id or settings.secret("spotify_client_id") or "",
        redirect_uri=args.redirect_uri
        or settings.secret("spotify_redirect_uri")
        or DEFAULT_REDIRECT_URI,
        api_root=args.api_root or settings.spotify_api_root or DEFAULT_API_ROOT,
        accounts_root=args.accounts_root or settings.spotify_accounts_root or DEFAULT_ACCOUNTS_ROOT,
        rate=args.rate,
    )
    pending = start_authorization(options)
    redirected = common.ask(
        "Open this address in a browser, allow access, then paste the address it sent you to "
        f"(it starts with {options.redirect_uri}):\n{pending.url}\n> "
    )
    cache = MappingTokenCache({})  # this process only: never written to a file
    finish_authorization(options, pending, redirected, cache)
    started = time.perf_counter()
    with open_store(settings) as store, SpotifyClient(options, cache) as client:
        result = SpotifyFetcher(store, client).fetch(kinds)
    return _print_results([result], time.perf_counter() - started, args.json)


def cmd_logs(args: argparse.Namespace, settings: Settings) -> int:
    """Show fetch logs, newest first."""
    from timbre.services.collection import live_user_key

    with open_store(settings) as store:
        logs = store.list_fetch_logs(limit=100_000)
    if args.source:
        logs = logs[logs["source"] == args.source]
    if args.status:
        logs = logs[logs["status"] == args.status]
    if args.user:
        logs = logs[logs["user_key"] == live_user_key(args.user)]
    logs = logs.head(args.limit)
    records = [
        {str(k): (None if is_missing(v) else v) for k, v in row.items()}
        for row in logs.to_dict("records")
    ]
    return print_rows(args.json, records, "no fetch logs yet", _log_line)


def _log_line(r: dict[str, Any]) -> str:
    when = str(r["finished_at"] or r["started_at"])[:19]
    seconds = r["duration_s"] or 0.0
    error = f"  {r['error']}" if r["error"] else ""
    return (
        f"{r['id']:>5}  {when}  {r['source']:<7} {r['user_key']:<28} {r['status']:<7} "
        f"{r['rows']:>8,} rows {seconds:7.1f} s{error}"
    )


def _add_kinds(parser: argparse.ArgumentParser, kinds: str, default: str) -> None:
    parser.add_argument("--kinds", help=f"comma-separated: {kinds} (default: {default})")


def add_commands(sub: Commands) -> None:
    """``users``, ``fetch lastfm``, ``fetch spotify``, ``logs``."""
    users = sub.add_parser("users", help="users of the live connectors: list, add, remove")
    users.add_argument("action", nargs="?", default="list", choices=("list", "add", "remove"))
    users.add_argument(
        "names", nargs="*", metavar="NAME", help="Last.fm user names (or full keys to remove)"
    )
    users.add_argument("--yes", action="store_true", help="remove without asking")
    users.add_argument("--json", action="store_true", help="list as JSON")
    users.set_defaults(handler=cmd_users)

    fetch = sub.add_parser("fetch", help="fetch from Last.fm or Spotify")
    services = fetch.add_subparsers(dest="service", required=True, metavar="SERVICE")
    lastfm = services.add_parser(
        "lastfm", help="fetch Last.fm users concurrently under one rate limit"
    )
    lastfm.add_argument(
        "users", nargs="*", metavar="USER", help="user names (default: every tracked user)"
    )
    _add_kinds(lastfm, "top-artists, top-albums, top-tracks, loved, history, tags", "all")
    lastfm.add_argument("--api-root", help="API URL (default: TIMBRE_LASTFM_API_ROOT or Last.fm)")
    lastfm.add_argument(
        "--rate", type=float, default=5.0, help="requests per second, shared (default 5)"
    )
    lastfm.add_argument("--workers", type=int, default=4, help="users at once (default 4)")
    lastfm.add_argument("--timeout", type=float, default=20.0, help="seconds per request")
    lastfm.add_argument("--json", action="store_true", help="print the results as JSON")
    lastfm.set_defaults(handler=cmd_fetch_lastfm)
    spotify = services.add_parser("spotify", help="sign in to Spotify (PKCE) and fetch")
    _add_kinds(
        spotify, "top-tracks, top-artists, recent, saved, audio-features", "all but audio-features"
    )
    spotify.add_argument("--client-id", help="default: SPOTIFY_CLIENT_ID or secrets.toml")
    spotify.add_argument(
        "--redirect-uri", help="registered in the app (default: SPOTIFY_REDIRECT_URI)"
    )
    spotify.add_argument("--api-root", help="default: TIMBRE_SPOTIFY_API_ROOT or Spotify")
    spotify.add_argument("--accounts-root", help="default: TIMBRE_SPOTIFY_ACCOUNTS_ROOT or Spotify")
    spotify.add_argument("--rate", type=float, default=10.0, help="requests per second")
    spotify.add_argument("--json", action="store_true", help="print the result as JSON")
    spotify.set_defaults(handler=cmd_fetch_spotify)

    logs = sub.add_parser("logs", help="fetch logs, newest first")
    logs.add_argument("--source", choices=("lastfm", "spotify"))
    logs.add_argument("--status", choices=("ok", "partial", "failed", "running", "interrupted"))
    logs.add_argument("--user", help="a Last.fm name or a full user key")
    logs.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    logs.add_argument("--json", action="store_true", help="print as JSON")
    logs.set_defaults(handler=cmd_logs)
