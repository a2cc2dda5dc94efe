"""Live Last.fm: tracked users' top lists, loved tracks, scrobble history and tags, via pylast.

Many users are fetched concurrently under one shared rate limit (default 5 requests per second,
Last.fm's documented ceiling), through the shared fetcher (``timbre/sources/live.py``) running
the kind table of ``timbre/sources/lastfm_kinds.py``; requests go through
``timbre/sources/lastfm_client.py``.

What a fetch keeps when it is cut off (retries exhausted, a user turns private, Ctrl-C):

- every *kind* (top tracks, top albums, top artists, loved tracks, history, tags) is written in
  its own transaction once it is complete, so a kind is in the store entirely or not at all;
- the scrobble history is read oldest page first and written every ``history_chunk_pages`` pages:
  what is stored is always the complete history up to its newest scrobble, and the next fetch
  resumes from there (Last.fm's ``from``), so a cut-off history is continued, never left with a
  hole;
- the user's ``fetch_logs`` row says ``partial`` (some kinds written) or ``failed`` (nothing
  written) and names each failed kind and why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import pandas as pd

from timbre.errors import DataError
from timbre.records import ImportBatch, ImportReport
from timbre.sources.lastfm_client import (
    DEFAULT_API_ROOT,
    LastfmClient,
    LastfmOptions,
    Scope,
    classify_error,
    expect,
    node_text,
)
from timbre.sources.lastfm_kinds import (
    KIND_TABLE,
    LastfmListener,
    album_key,
    artist_key,
    track_key,
)
from timbre.sources.live import (
    FetchResult,
    LiveFetcher,
    ProgressCallback,
    Run,
    Step,
    write_kind,
)
from timbre.sources.live import parse_kinds as parse_kinds_of
from timbre.store import Store

__all__ = [
    "DATASETS",
    "DEFAULT_API_ROOT",
    "KINDS",
    "SOURCE",
    "USER_PREFIX",
    "LastfmClient",
    "LastfmFetcher",
    "LastfmOptions",
    "Scope",
    "add_users",
    "album_key",
    "artist_key",
    "check_username",
    "classify_error",
    "parse_kinds",
    "track_key",
    "tracked_users",
    "user_key",
]

SOURCE = "lastfm"
#: What can be fetched per user, in the order it is fetched (tags last: they need the items).
KINDS: tuple[str, ...] = tuple(kind.name for kind in KIND_TABLE)
#: The data set each kind's interactions go to (one item kind per data set, so that each can be
#: trained on as it is: artist play counts like HetRec, track counts + loves, timed scrobbles).
DATASETS: dict[str, str] = {kind.name: kind.dataset for kind in KIND_TABLE if kind.dataset}
USER_PREFIX = "lastfm:"
#: Last.fm's rule: 2-15 characters, a letter first, then letters, digits, ``_`` or ``-``.
_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{1,14}$")


# --- names and keys ---------------------------------------------------------------------------
def check_username(name: str) -> str:
    """A Last.fm user name, stripped; raises ``DataError`` when Last.fm would not allow it.

    Examples
    --------
    >>> check_username(" RJ ")
    'RJ'
    """
    text = str(name).strip()
    if text.lower().startswith(USER_PREFIX):
        text = text[len(USER_PREFIX) :]
    if not _USERNAME.match(text):
        raise DataError(
            f"{name!r} is not a Last.fm user name (2-15 characters: a letter first, then "
            "letters, digits, '_' or '-')"
        )
    return text


def user_key(name: str) -> str:
    """The store key of a Last.fm user (names are case-insensitive on Last.fm).

    Examples
    --------
    >>> user_key("RJ")
    'lastfm:rj'
    """
    return USER_PREFIX + check_username(name).lower()


def parse_kinds(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """Last.fm kinds from ``"top-tracks,history"`` or a list, in fetch order; ``None``: all.

    Raises
    ------
    DataError
        An unknown kind, or none.
    """
    return parse_kinds_of(text, KINDS, KINDS, "Last.fm")


# --- tracked users ----------------------------------------------------------------------------
def add_users(store: Store, names: Iterable[str]) -> list[str]:
    """Track Last.fm users (idempotent); returns their store keys.

    Raises
    ------
    DataError
        A name Last.fm would not allow (nothing is written).
    """
    checked = [check_username(n) for n in names if str(n).strip()]
    if not checked:
        raise DataError("give at least one Last.fm user name")
    keys = [user_key(n) for n in checked]
    frame = pd.DataFrame({"key": keys, "name": checked, "tracked": True}).drop_duplicates("key")
    batch = ImportBatch(
        dataset="",
        source=SOURCE,
        report=ImportReport(source=SOURCE, dataset=""),
        users=frame,
    )
    write_kind(store, batch)
    return list(dict.fromkeys(keys))


def tracked_users(store: Store) -> pd.DataFrame:
    """Tracked Last.fm users (added or fetched; a Last.fm CSV export's user name is not one)
    with their newest fetch.

    Returns
    -------
    pandas.DataFrame
        ``key, name, interactions, datasets, last_fetch, status, rows, error``; a fetch that
        is still ``running`` (or was ``interrupted``) shows when it started, and the rows it
        wrote up to then.
    """
    users = store.list_users(USER_PREFIX)
    users = users[users["tracked"].astype(bool)]  # not the names read from CSV exports
    logs = store.list_fetch_logs(limit=100_000)
    logs = logs[logs["source"] == SOURCE] if len(logs) else logs
    latest = logs.drop_duplicates("user_key") if len(logs) else logs  # newest first already
    by_key = latest.set_index("user_key") if len(latest) else None
    out = users[["key", "name", "interactions", "datasets"]].copy()
    if by_key is not None:  # a fetch still running (or interrupted) has no finish time
        by_key["last_fetch"] = by_key["finished_at"].fillna(by_key["started_at"])
    for column, source in (
        ("last_fetch", "last_fetch"),
        ("status", "status"),
        ("rows", "rows"),
        ("error", "error"),
    ):
        out[column] = (
            out["key"].map(by_key[source]) if by_key is not None else pd.Series(dtype=object)
        )
    return out


# --- fetching ---------------------------------------------------------------------------------
class LastfmFetcher(LiveFetcher[LastfmClient, LastfmListener]):
    """Fetch tracked users into the store: one user per worker, one shared rate limit.

    Parameters
    ----------
    store
        Where batches and fetch logs go.
    client
        The Last.fm client (its limiter is shared by every worker).

    Examples
    --------
    A run against the real service (needs a key and the network)::

        with LastfmClient(key) as client:
            results = LastfmFetcher(store, client).fetch_users(["rj"], parse_kinds(None))
    """

    source = SOURCE
    label = "Last.fm"
    kinds = KIND_TABLE
    default_kinds = KINDS

    def fetch_users(
        self,
        names: Sequence[str],
        kinds: str | Iterable[str] | None = KINDS,
        progress: ProgressCallback | None = None,
    ) -> list[FetchResult]:
        """Fetch several users concurrently; one ``fetch_logs`` row each; results in order.

        One user's failure never stops the others; an invalid or suspended API key ends every
        user's fetch (each logged as failed with that reason). Ctrl-C cancels: users stop at
        their next request, what they wrote stays, and each is logged.

        Raises
        ------
        DataError
            A name Last.fm would not allow (checked before anything is fetched).
        """
        checked = list(dict.fromkeys(check_username(n) for n in names))
        if not checked:
            raise DataError("no Last.fm users to fetch: add some first")
        workers = min(self.client.options.workers, len(checked))
        return self.fetch_many(checked, kinds, progress, workers)

    def identify(self, name: str) -> tuple[str, str]:
        """The checked name and its store key (raises ``DataError`` for a bad name)."""
        checked = check_username(name)
        return checked, user_key(checked)

    def open_user(self, result: FetchResult, run: Run, step: Step) -> LastfmListener:
        """Read the profile (``user.getInfo``): the name Last.fm shows for the user."""
        step(0.0, "reading the profile")
        name = result.user
        answer = self.client.call("user.getInfo", {"user": name}, what=f"profile of {name}")
        display = node_text(expect(answer, "user"), "name") or name
        return LastfmListener(name, result.user_key, display, self.client, self.store, run)
