"""Live Spotify: the signed-in user's top lists, recent plays and saved tracks, as a kind table.

Sign-in (PKCE) lives in ``timbre/sources/spotify_auth.py`` and requests in
``timbre/sources/spotify_client.py``; their public names are importable from here too.

Fetching follows the Last.fm connector through the shared fetcher (``timbre/sources/live.py``):
each kind is written in one transaction, requests share a rate limiter, transient failures are
retried with backoff, and a 429 waits as long as its ``Retry-After`` says. Audio features are off
by default: Spotify answers 403 to apps registered after 27 November 2024; when asked for and
refused, the result says so and the content model keeps using the catalogue's features, joined
by track and artist name.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pandas as pd

from timbre.errors import SourceError
from timbre.records import AUDIO_FEATURES, ImportReport, link_key
from timbre.sources.live import (
    FetchResult,
    GaveUp,
    Kind,
    LiveFetcher,
    ProgressCallback,
    Rows,
    Run,
    Step,
    UserFetchError,
    interaction_frame,
)
from timbre.sources.live import parse_kinds as parse_kinds_of
from timbre.sources.spotify_auth import (
    AUTH_TTL_S,
    DEFAULT_ACCOUNTS_ROOT,
    DEFAULT_API_ROOT,
    DEFAULT_REDIRECT_URI,
    SCOPES,
    MappingTokenCache,
    PendingAuthorization,
    PendingAuthorizations,
    SpotifyOptions,
    check_redirect_uri,
    finish_authorization,
    parse_redirect,
    start_authorization,
)
from timbre.sources.spotify_client import SpotifyClient, classify_error
from timbre.store import Store

__all__ = [
    "AUTH_TTL_S",
    "DATASETS",
    "DEFAULT_ACCOUNTS_ROOT",
    "DEFAULT_API_ROOT",
    "DEFAULT_KINDS",
    "DEFAULT_REDIRECT_URI",
    "KINDS",
    "SCOPES",
    "SOURCE",
    "TIME_RANGES",
    "USER_PREFIX",
    "MappingTokenCache",
    "PendingAuthorization",
    "PendingAuthorizations",
    "SpotifyClient",
    "SpotifyFetcher",
    "SpotifyOptions",
    "check_redirect_uri",
    "classify_error",
    "finish_authorization",
    "parse_kinds",
    "parse_redirect",
    "start_authorization",
    "track_key",
]

SOURCE = "spotify"
TIME_RANGES: tuple[str, ...] = ("short_term", "medium_term", "long_term")
USER_PREFIX = "spotify:user:"
#: The data set of the timed plays (the recent kind).
PLAYS = "spotify-plays"
_ITEM_COLUMNS = ["key", "kind", "name", "artist", "link_key"]
_AUDIO_FEATURES_403 = (
    "Spotify refused audio features (403): apps registered after 27 Nov 2024 cannot read them. "
    "Nothing is lost: the content model uses the catalogue's audio features for tracks matched "
    "by artist and title"
)


# --- tracks -----------------------------------------------------------------------------------
def track_key(track: dict[str, Any]) -> str:
    """``spotify:track:<id>`` (what the account-export importer uses), or a name key for local
    files without an id.

    Examples
    --------
    >>> track_key({"id": "4uLU6hMCjMI75M1A2tKUQC"})
    'spotify:track:4uLU6hMCjMI75M1A2tKUQC'
    """
    ident = track.get("id")
    if ident:
        return f"spotify:track:{ident}"
    linked = link_key("track", track.get("name"), _first_artist(track))
    return f"spotify:name:{linked}" if linked else ""


def _first_artist(track: dict[str, Any]) -> str | None:
    artists = track.get("artists") or []
    return str(artists[0].get("name")) if artists and artists[0].get("name") else None


@dataclass
class _Tracks:
    """Tracks met in a fetch, by key: (name, first artist)."""

    rows: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def add(self, track: dict[str, Any]) -> str:
        key = track_key(track)
        if key:
            self.rows.setdefault(key, (str(track.get("name") or key), _first_artist(track)))
        return key

    def items(self, keys: Sequence[str]) -> pd.DataFrame:
        rows = [(k, *self.rows[k]) for k in dict.fromkeys(keys) if k in self.rows]
        frame = pd.DataFrame(rows, columns=["key", "name", "artist"])
        frame["kind"] = "track"
        frame["link_key"] = [
            link_key("track", n, a) for n, a in zip(frame["name"], frame["artist"], strict=True)
        ]
        return frame[_ITEM_COLUMNS]


@dataclass(frozen=True)
class SpotifyListener:
    """The signed-in user's fetch: who, through which client and store, the tracks met so far."""

    user_key: str
    display: str
    client: SpotifyClient
    store: Store
    tracks: _Tracks = field(default_factory=_Tracks)


def _track(user: SpotifyListener, track: dict[str, Any], report: ImportReport) -> str:
    """The track's key (the track noted for the items), or ``""`` with the drop counted."""
    key = user.tracks.add(track)
    if not key:
        report.drop("track without an id or a name")
    return key


# --- top lists --------------------------------------------------------------------------------
Ranked = dict[str, tuple[dict[str, Any], float]]


def _ranked_reader(
    method: Callable[[SpotifyClient], Callable[..., Any]], what: str
) -> Callable[[SpotifyListener, Step], Iterator[list[dict[str, Any]]]]:
    """Reads a top list in each of the three time ranges (one page per range)."""

    def read(user: SpotifyListener, step: Step) -> Iterator[list[dict[str, Any]]]:
        limit = user.client.options.top_limit
        size = min(user.client.options.page_size, limit)
        for position, time_range in enumerate(TIME_RANGES):

            def sub(fraction: float, message: str, _p: int = position) -> None:
                step((_p + fraction) / len(TIME_RANGES), message)

            first = partial(method(user.client), limit=size, offset=0, time_range=time_range)
            label = f"{what} ({time_range.replace('_', ' ')})"
            yield [o for page in user.client.pages(first, limit, label, sub) for o in page]

    return read


def _rank(ranges: Sequence[list[dict[str, Any]]]) -> Ranked:
    """Objects of the time ranges with weight sum((n - rank + 1) / n) over ranges."""
    ranked: Ranked = {}
    for objects in ranges:
        n = len(objects)
        for rank, obj in enumerate(objects, start=1):
            key = str(obj.get("id") or obj.get("name") or "")
            if not key:
                continue
            old = ranked.get(key, (obj, 0.0))[1]
            ranked[key] = (obj, old + (n - rank + 1) / n)
    return ranked


def _top_track_rows(
    user: SpotifyListener, ranges: Sequence[list[dict[str, Any]]], report: ImportReport
) -> Rows:
    ranked = _rank(ranges)
    report.rows_read = len(ranked)
    keys, weights = [], []
    for obj, weight in ranked.values():
        if key := _track(user, obj, report):
            keys.append(key)
            weights.append(weight)
    report.accepted = len(keys)
    return Rows(
        fetched=len(keys),
        items=user.tracks.items(keys),
        interactions=interaction_frame(user.user_key, keys, "top", weights),
    )


def _top_artist_rows(
    user: SpotifyListener, ranges: Sequence[list[dict[str, Any]]], report: ImportReport
) -> Rows:
    ranked = _rank(ranges)
    report.rows_read = len(ranked)
    rows, weights, tag_rows = [], [], []
    for ident, (obj, weight) in ranked.items():
        name = str(obj.get("name") or "").strip()
        if not obj.get("id") or not name:
            report.drop("artist without an id or a name")
            continue
        key = f"spotify:artist:{ident}"
        rows.append((key, "artist", name, None, link_key("artist", name)))
        weights.append(weight)
        for genre in obj.get("genres") or []:  # Spotify's fine-grained genres, as tags
            if str(genre).strip():
                tag_rows.append((key, "tag", str(genre).strip().lower(), 1.0))
    items = pd.DataFrame(rows, columns=_ITEM_COLUMNS)
    report.accepted = len(items)
    return Rows(
        fetched=len(items),
        items=items,
        interactions=interaction_frame(user.user_key, list(items["key"]), "top", weights),
        tags=pd.DataFrame(tag_rows, columns=["item_key", "kind", "tag", "weight"]),
    )


# --- recent plays and saved tracks ------------------------------------------------------------
def _read_recent(user: SpotifyListener, step: Step) -> Iterator[list[Any]]:
    """The last plays since the newest stored one (Spotify keeps only the last 50)."""
    since = user.store.latest_event_ms(PLAYS, user.user_key, "play")
    sp = user.client.sp
    page = user.client.call(
        sp.current_user_recently_played, limit=50, after=since, what="recently played"
    )
    plays = page.get("items")
    if not isinstance(plays, list):
        raise GaveUp("recently played: the answer has no item list")
    step(0.9, f"recently played: {len(plays)} plays")
    yield plays


def _recent_rows(user: SpotifyListener, pages: Sequence[list[Any]], report: ImportReport) -> Rows:
    plays = [play for page in pages for play in page]
    report.rows_read = len(plays)
    keys, stamps = [], []
    for play in plays:
        track = play.get("track") if isinstance(play, dict) else None
        when = pd.to_datetime(play.get("played_at"), utc=True, errors="coerce") if track else None
        if not isinstance(track, dict) or when is None or pd.isna(when):
            report.drop("play without a track or a time")
            continue
        if key := _track(user, track, report):
            keys.append(key)
            stamps.append(when)
    frame = pd.DataFrame({"key": keys, "timestamp": pd.to_datetime(stamps, utc=True)})
    dupes = frame.duplicated()
    report.drop("duplicate play (same track, same time)", int(dupes.sum()))
    frame = frame[~dupes]
    report.accepted = len(frame)
    keys = list(frame["key"])
    return Rows(
        fetched=len(frame),
        items=user.tracks.items(keys),
        interactions=interaction_frame(
            user.user_key, keys, "play", [1.0] * len(keys), frame["timestamp"]
        ),
    )


def _read_saved(user: SpotifyListener, step: Step) -> Iterator[list[dict[str, Any]]]:
    options, sp = user.client.options, user.client.sp
    first = partial(sp.current_user_saved_tracks, limit=options.page_size, offset=0)
    return user.client.pages(first, options.saved_limit, "saved tracks", step)


def _saved_rows(
    user: SpotifyListener, pages: Sequence[list[dict[str, Any]]], report: ImportReport
) -> Rows:
    saved = [entry for page in pages for entry in page]
    report.rows_read = len(saved)
    keys = []
    for entry in saved:
        track = entry.get("track")
        key = user.tracks.add(track) if isinstance(track, dict) else ""
        if not key:
            report.drop("saved entry without a track")
            continue
        keys.append(key)
    keys = list(dict.fromkeys(keys))
    report.accepted = len(keys)
    # a save has no time in the natural key: saving again is the same save
    return Rows(
        fetched=len(keys),
        items=user.tracks.items(keys),
        interactions=interaction_frame(user.user_key, keys, "love", [1.0] * len(keys)),
    )


# --- audio features ---------------------------------------------------------------------------
def _track_ids(user: SpotifyListener) -> list[str]:
    return [k.rsplit(":", 1)[-1] for k in user.tracks.rows if k.startswith("spotify:track:")]


def _read_audio_features(user: SpotifyListener, step: Step) -> Iterator[list[Any]]:
    """Audio features of the tracks met so far, 100 a request (403 for apps since Nov 2024)."""
    ids = _track_ids(user)
    sp = user.client.sp
    for start in range(0, len(ids), 100):
        chunk = ids[start : start + 100]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                answer = user.client.call(
                    lambda c=chunk: {"audio_features": sp.audio_features(c)},
                    what="audio features",
                )
            except UserFetchError as exc:
                if "(403)" in str(exc):
                    raise SourceError(_AUDIO_FEATURES_403) from None
                raise
        yield answer.get("audio_features") or []
        step(0.9 * min(1.0, (start + 100) / len(ids)), "audio features")


def _feature_rows(user: SpotifyListener, pages: Sequence[list[Any]], report: ImportReport) -> Rows:
    ids = _track_ids(user)
    if not ids:
        return Rows(fetched=0, note="audio features: no Spotify tracks in this fetch")
    rows = []
    for feats in (f for page in pages for f in page):
        if isinstance(feats, dict) and feats.get("id"):
            row: dict[str, object] = {"item_key": f"spotify:track:{feats['id']}"}
            for column in AUDIO_FEATURES:
                value = feats.get("key" if column == "musical_key" else column)
                row[column] = float(value) if isinstance(value, int | float) else None
            row["popularity"] = None
            rows.append(row)
    features = pd.DataFrame(rows, columns=["item_key", *AUDIO_FEATURES, "popularity"])
    report.rows_read = len(ids)
    report.accepted = len(features)
    return Rows(
        fetched=len(features),
        items=user.tracks.items(list(features["item_key"])),
        features=features,
    )


#: What can be fetched for the signed-in user, in the order it is fetched (audio features last:
#: they are asked for the tracks the other kinds met).
KIND_TABLE: tuple[Kind[SpotifyListener, Any], ...] = (
    Kind(
        "top-tracks",
        "spotify-tracks",
        _ranked_reader(lambda c: c.sp.current_user_top_tracks, "top tracks"),
        _top_track_rows,
    ),
    Kind(
        "top-artists",
        "spotify-artists",
        _ranked_reader(lambda c: c.sp.current_user_top_artists, "top artists"),
        _top_artist_rows,
    ),
    Kind("recent", PLAYS, _read_recent, _recent_rows),
    Kind("saved", "spotify-tracks", _read_saved, _saved_rows),
    Kind("audio-features", "", _read_audio_features, _feature_rows),
)
KINDS: tuple[str, ...] = tuple(kind.name for kind in KIND_TABLE)
#: Audio features are refused (403) to apps registered after 27 Nov 2024: ask for them explicitly.
DEFAULT_KINDS: tuple[str, ...] = ("top-tracks", "top-artists", "recent", "saved")
DATASETS: dict[str, str] = {kind.name: kind.dataset for kind in KIND_TABLE if kind.dataset}


def parse_kinds(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """Spotify kinds from ``"top-tracks,recent"`` or a list, in fetch order; ``None``: the
    defaults.

    Raises
    ------
    DataError
        An unknown kind, or none.
    """
    return parse_kinds_of(text, KINDS, DEFAULT_KINDS, "Spotify")


# --- fetching ---------------------------------------------------------------------------------
class SpotifyFetcher(LiveFetcher[SpotifyClient, SpotifyListener]):
    """Fetch the signed-in user's listening into the store (one transaction per kind).

    Parameters
    ----------
    store
        Where batches and the fetch log go.
    client
        A connected :class:`SpotifyClient`.
    """

    source = SOURCE
    label = "Spotify"
    kinds = KIND_TABLE
    default_kinds = DEFAULT_KINDS

    def fetch(
        self,
        kinds: str | Iterable[str] | None = DEFAULT_KINDS,
        progress: ProgressCallback | None = None,
    ) -> FetchResult:
        """Fetch ``kinds`` for the signed-in user; logs one ``fetch_logs`` row and returns it.

        Raises
        ------
        DataError
            An unknown kind (nothing is fetched).
        """
        return self.fetch_user("", kinds, progress)

    def identify(self, name: str) -> tuple[str, str]:
        """Nobody yet: the profile says who signed in."""
        return "(signed-in user)", USER_PREFIX + "unknown"

    def open_user(self, result: FetchResult, run: Run, step: Step) -> SpotifyListener:
        """Read the signed-in user's profile: their id (the store key) and display name."""
        step(0.0, "reading your profile")
        me = self.client.call(self.client.sp.current_user, what="your Spotify profile")
        ident = str(me.get("id") or "").strip()
        if not ident:
            raise UserFetchError("Spotify's profile answer has no user id")
        result.user = str(me.get("display_name") or ident)
        result.user_key = USER_PREFIX + ident
        return SpotifyListener(result.user_key, result.user, self.client, self.store)

    def ends_fetch(self, exc: UserFetchError) -> bool:
        """Only a lost sign-in ends the fetch (a 403 or 404 ends just that kind)."""
        return "connect again" in str(exc)
