"""``timbre serve`` and ``timbre keys``: the JSON API and its keys."""

from __future__ import annotations

import argparse
import sys

from timbre.cli.common import Commands, add_dataset, add_json, open_store, print_json, print_rows
from timbre.config import Settings
from timbre.errors import ParameterError, TimbreError


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the API with uvicorn until interrupted."""
    import uvicorn

    from timbre.api import create_app
    from timbre.api.cache import open_cache

    if not 0 < args.port < 65536:
        raise ParameterError(f"--port must be 1..65535, got {args.port}")
    if args.cache_ttl <= 0:
        raise ParameterError(f"--cache-ttl must be more than 0 seconds, got {args.cache_ttl}")
    app = create_app(settings, args.dataset, open_cache(args.redis_url, args.cache_ttl))
    try:  # load the active run now rather than in the first request
        app.state.server.served()
    except TimbreError as exc:
        print(f"timbre: warning: no run loaded yet ({exc}); /health says so", file=sys.stderr)
    print(f"Timbre API on http://{args.host}:{args.port} (docs at /docs)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    """Create, list or revoke API keys."""
    from timbre.services.keys import create_key, list_keys, revoke_key

    with open_store(settings) as store:
        if args.action == "create":
            if not args.name:
                raise ParameterError("keys create needs --name NAME")
            key_id, token = create_key(store, args.name, args.admin, args.rate_limit)
            role = "admin" if args.admin else "read-only"
            if args.json:
                print_json({"id": key_id, "name": args.name, "admin": args.admin, "key": token})
            else:
                print(f"API key {key_id} ({args.name}, {role}, {args.rate_limit} requests/min):")
                print(token)
                print("Shown only now: Timbre keeps its SHA-256, not the key.", file=sys.stderr)
            return 0
        if args.action == "revoke":
            if args.key_id is None:
                raise ParameterError("keys revoke needs the key's id (`timbre keys list`)")
            done = revoke_key(store, args.key_id)
            print(f"API key {args.key_id} {'revoked' if done else 'was already revoked'}")
            return 0
        rows = list_keys(store)
    return print_rows(args.json, rows, "no API keys yet; `timbre keys create --name N`", _key_line)


def _key_line(row: dict[str, object]) -> str:
    state = f"revoked {str(row['revoked_at'])[:19]}" if row["revoked_at"] else "active"
    role = "admin" if row["admin"] else "read"
    return (
        f"{row['id']:>4}  {row['name']!s:<24} {row['prefix']}...  {role:<5} "
        f"{row['rate_limit']:>5}/min  {state}"
    )


def add_commands(sub: Commands) -> None:
    """``serve`` and ``keys``."""
    from timbre.services.keys import DEFAULT_RATE_LIMIT

    serve = sub.add_parser("serve", help="the JSON API (FastAPI + uvicorn; docs at /docs)")
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--redis-url", help="cache in this Redis (default: TIMBRE_REDIS_URL, else in-process)"
    )
    serve.add_argument(
        "--cache-ttl", type=float, default=24 * 3600.0, help="seconds a cached list lives (24 h)"
    )
    serve.add_argument(
        "--log-level", default="warning", choices=("critical", "error", "warning", "info")
    )
    add_dataset(serve)
    serve.set_defaults(handler=cmd_serve)

    keys = sub.add_parser("keys", help="API keys: create (shown once), list, revoke")
    keys.add_argument("action", choices=("create", "list", "revoke"))
    keys.add_argument("key_id", nargs="?", type=int, help="revoke: the key's id")
    keys.add_argument("--name", help="create: who or what the key is for")
    keys.add_argument("--admin", action="store_true", help="create: may call write endpoints")
    keys.add_argument(
        "--rate-limit",
        type=int,
        default=DEFAULT_RATE_LIMIT,
        metavar="N",
        help=f"create: requests per minute (default {DEFAULT_RATE_LIMIT})",
    )
    add_json(keys)
    keys.set_defaults(handler=cmd_keys)
