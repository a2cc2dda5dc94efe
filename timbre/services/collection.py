"""The multi-user Last.fm collection: tracked users, their fetches and the store's stats, as
``timbre users`` / ``timbre fetch lastfm`` and the API's ``/v1/users`` serve them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from timbre.config import Settings
from timbre.errors import NotFoundError, TimbreError
from timbre.sources.lastfm import (
    DEFAULT_API_ROOT,
    LastfmClient,
    LastfmFetcher,
    LastfmOptions,
    add_users,
    parse_kinds,
    tracked_users,
    user_key,
)
from timbre.sources.live import ProgressCallback
from timbre.sources.results import FetchResult
from timbre.store import Store


def _missing(value: object) -> bool:
    return value is None or bool(pd.isna(value))  # type: ignore[call-overload]


def live_user_key(name: str) -> str:
    """A full key (``spotify:user:x``) as given; a bare name is a Last.fm user."""
    return name.strip() if ":" in name else user_key(name)


def live_users(store: Store) -> list[dict[str, Any]]:
    """Tracked Last.fm users and Spotify accounts: ``key, name, interactions, datasets,
    last_fetch, status`` (``None`` where never fetched)."""
    lastfm = tracked_users(store)
    spotify = store.list_users("spotify:user:")
    spotify = spotify[spotify["tracked"].astype(bool)]  # fetched, not an export's name
    return [
        {
            "key": r["key"],
            "name": r["name"],
            "interactions": int(r["interactions"]),
            "datasets": r["datasets"],
            "last_fetch": None if _missing(r.get("last_fetch")) else str(r["last_fetch"]),
            "status": None if _missing(r.get("status")) else r["status"],
        }
        for r in [*lastfm.to_dict("records"), *spotify.to_dict("records")]
    ]


def track_users(store: Store, names: Iterable[str]) -> list[str]:
    """Track Last.fm users (idempotent); their keys. ``DataError`` for a name Last.fm refuses."""
    return add_users(store, names)


def unknown_users(store: Store, names: Sequence[str]) -> list[str]:
    """The keys of ``names`` (:func:`live_user_key`) that name no user in the store."""
    known = set(store.list_users("")["key"])
    return [k for k in (live_user_key(n) for n in names) if k not in known]


def remove_users(store: Store, names: Sequence[str]) -> dict[str, dict[str, int]]:
    """Remove users with all their rows (``Store.remove_user``); rows removed per user key.
    ``NotFoundError`` (nothing removed) when any of them is not in the store."""
    if not names:
        raise TimbreError("name at least one user (a Last.fm name or a full key)")
    missing = unknown_users(store, names)
    if missing:
        raise NotFoundError(f"no such user(s) in the store: {', '.join(missing)}")
    return {key: store.remove_user(key) for key in (live_user_key(n) for n in names)}


def fetch_lastfm(
    store: Store,
    settings: Settings,
    names: Sequence[str] = (),
    kinds: str | Iterable[str] | None = None,
    options: LastfmOptions | None = None,
    progress: ProgressCallback | None = None,
) -> list[FetchResult]:
    """Fetch Last.fm users (default: every tracked one) concurrently under one rate limit,
    with the settings' API key and root; one result (and fetch log) each."""
    chosen = parse_kinds(kinds)
    wanted = list(names) or [key.removeprefix("lastfm:") for key in tracked_users(store)["key"]]
    if not wanted:
        raise TimbreError("no Last.fm users to fetch: give names or `timbre users add NAME`")
    options = options or LastfmOptions(api_root=settings.lastfm_api_root or DEFAULT_API_ROOT)
    with LastfmClient(settings.secret("lastfm_api_key") or "", options) as client:
        return LastfmFetcher(store, client).fetch_users(wanted, chosen, progress)


def fetch_summary(results: Sequence[FetchResult], seconds: float) -> dict[str, Any]:
    """The ``--json`` / API form of a fetch: each user's result and the counts."""
    counts = {s: sum(1 for r in results if r.status == s) for s in ("ok", "partial", "failed")}
    rows = sum(r.rows for r in results)
    return {
        "users": [r.as_dict() for r in results],
        "summary": {**counts, "new_rows": rows, "seconds": round(seconds, 2)},
    }
