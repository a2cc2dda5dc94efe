"""What Last.fm fetches per user, as a kind table: how each kind pages and becomes a batch."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.dom import minidom

import pandas as pd

from timbre.records import ImportReport, ItemKind, link_key, name_key
from timbre.sources.lastfm_client import (
    MAX_PAGE,
    LastfmClient,
    LastfmOptions,
    children,
    expect,
    first_child,
    node_text,
    to_number,
    total_pages,
)
from timbre.sources.live import (
    GaveUp,
    ItemSkipped,
    Kind,
    Rows,
    Run,
    Step,
    interaction_frame,
)
from timbre.store import Store

Page = list[minidom.Element]
#: ``(key, name, artist, link_key, weight, timestamp)`` of one track entry.
TrackRow = tuple[str, str, str, str, float, pd.Timestamp | None]
ITEM_COLUMNS = ["key", "kind", "name", "artist", "link_key"]
#: The data set of the timed scrobbles (the history kind).
SCROBBLES = "lastfm-scrobbles"


# --- keys -------------------------------------------------------------------------------------
def track_key(title: str | None, artist: str | None) -> str:
    """``lastfm:track:<artist>|<title>`` (the same key a Last.fm CSV export import uses).

    Examples
    --------
    >>> track_key("Hoppípolla", "Sigur Rós")
    'lastfm:track:sigur ros|hoppipolla'
    """
    linked = link_key("track", title, artist)
    return "lastfm:track:" + linked.removeprefix("track:") if linked else ""


def album_key(title: str | None, artist: str | None) -> str:
    """``lastfm:album:<artist>|<album>`` (empty without a title or an artist)."""
    linked = link_key("album", title, artist)
    return "lastfm:album:" + linked.removeprefix("album:") if linked else ""


def artist_key(name: str | None) -> str:
    """``lastfm:artist:<name>`` (empty without a name)."""
    key = name_key(name)
    return f"lastfm:artist:{key}" if key else ""


# --- one user's fetch -------------------------------------------------------------------------
@dataclass
class Seen:
    """Items met during one user's fetch, for choosing what to tag.

    Items are ranked by the top lists' all-time play counts when this fetch read a top list,
    else by how often they came up in the history and loved tracks. The top lists do not depend
    on how much history a fetch reads (all of it the first time, only what is new later), so a
    re-fetch picks the same items and asks for nothing new.
    """

    artists: dict[str, tuple[str, float, float]] = field(default_factory=dict)
    tracks: dict[str, tuple[str, str, float, float]] = field(default_factory=dict)

    def artist(self, name: str, weight: float, top: bool = False) -> None:
        """Count ``weight`` plays of artist ``name`` (from a top list when ``top``)."""
        key = artist_key(name)
        if key:
            _name, ranked, plays = self.artists.get(key, (name, 0.0, 0.0))
            self.artists[key] = (name, ranked + weight * top, plays + weight * (not top))

    def track(self, title: str, artist: str, weight: float, top: bool = False) -> None:
        """Count ``weight`` plays of a track, and of its artist."""
        key = track_key(title, artist)
        if key:
            _t, _a, ranked, plays = self.tracks.get(key, (title, artist, 0.0, 0.0))
            self.tracks[key] = (title, artist, ranked + weight * top, plays + weight * (not top))
        self.artist(artist, weight, top)

    def strongest_artists(self, n: int) -> list[tuple[str, str]]:
        """``(key, name)`` of the ``n`` strongest artists."""
        by_top = any(v[1] > 0 for v in self.artists.values())
        ranked = sorted(
            self.artists.items(), key=lambda kv: (-(kv[1][1] if by_top else kv[1][2]), kv[0])
        )
        return [(k, v[0]) for k, v in ranked if not by_top or v[1] > 0][:n]

    def strongest_tracks(self, n: int) -> list[tuple[str, str, str]]:
        """``(key, title, artist)`` of the ``n`` strongest tracks."""
        by_top = any(v[2] > 0 for v in self.tracks.values())
        ranked = sorted(
            self.tracks.items(), key=lambda kv: (-(kv[1][2] if by_top else kv[1][3]), kv[0])
        )
        return [(k, v[0], v[1]) for k, v in ranked if not by_top or v[2] > 0][:n]


@dataclass(frozen=True)
class LastfmListener:
    """One user's fetch: who, through which client and store, and the items met so far.

    Attributes
    ----------
    name
        The Last.fm user name (as checked).
    user_key, display
        The store key and the name Last.fm shows.
    client, store, run
        Where requests go, where batches go, the run the user is part of (tags are claimed
        across its users).
    seen
        Items met by the kinds fetched so far (the tags kind tags the strongest).
    """

    name: str
    user_key: str
    display: str
    client: LastfmClient
    store: Store
    run: Run
    seen: Seen = field(default_factory=Seen)

    @property
    def options(self) -> LastfmOptions:
        """The client's options."""
        return self.client.options


# --- top lists and loved tracks ---------------------------------------------------------------
def _top_list(
    method: str, entry: str, what: str, want: Callable[[LastfmOptions], int]
) -> Callable[[LastfmListener, Step], Iterator[Page]]:
    """Reads one of the user's all-time top lists (pages of up to 1000 entries)."""

    def read(user: LastfmListener, step: Step) -> Iterator[Page]:
        limit = want(user.options)
        params = {"user": user.name, "period": "overall"}
        size = min(limit, MAX_PAGE["top"])
        return user.client.pages(method, entry, params, limit, size, f"{what} of {user.name}", step)

    return read


def _read_loved(user: LastfmListener, step: Step) -> Iterator[Page]:
    options = user.options
    what = f"loved tracks of {user.name}"
    params = {"user": user.name}
    return user.client.pages(
        "user.getLovedTracks", "track", params, options.loved, options.page_size, what, step
    )


def _entries(pages: Sequence[Page], report: ImportReport) -> list[minidom.Element]:
    """The entries of all ``pages``, in order, counted as read."""
    nodes = [node for page in pages for node in page]
    report.rows_read = len(nodes)
    return nodes


def _artist_rows(user: LastfmListener, pages: Sequence[Page], report: ImportReport) -> Rows:
    nodes = _entries(pages, report)
    rows = []
    for node in nodes:
        artist = node_text(node, "name")
        key = artist_key(artist)
        if not key:
            report.drop("artist without a name")
            continue
        plays = to_number(node_text(node, "playcount"))
        rows.append((key, artist, None, link_key("artist", artist), plays))
        user.seen.artist(str(artist), plays, top=True)
    return _top_rows(user, report, "artist", rows)


def _album_rows(user: LastfmListener, pages: Sequence[Page], report: ImportReport) -> Rows:
    nodes = _entries(pages, report)
    rows = []
    for node in nodes:
        title = node_text(node, "name")
        artist = node_text(first_child(node, "artist"), "name")
        key = album_key(title, artist)
        if not key:
            report.drop("album without a title or an artist")
            continue
        plays = to_number(node_text(node, "playcount"))
        rows.append((key, title, artist, link_key("album", title, artist), plays))
    return _top_rows(user, report, "album", rows)


def _top_rows(
    user: LastfmListener,
    report: ImportReport,
    kind: ItemKind,
    rows: Sequence[tuple[str, str | None, str | None, str, float]],
) -> Rows:
    frame = pd.DataFrame(rows, columns=["key", "name", "artist", "link_key", "weight"])
    report.accepted = len(frame)
    return Rows(
        fetched=len(frame),
        items=frame.assign(kind=kind)[ITEM_COLUMNS],
        interactions=interaction_frame(user.user_key, frame["key"], "top", frame["weight"]),
    )


def _top_track_rows(user: LastfmListener, pages: Sequence[Page], report: ImportReport) -> Rows:
    nodes = _entries(pages, report)
    frame = _track_frame(_track_rows(nodes, report))
    for title, artist, plays in zip(frame["name"], frame["artist"], frame["weight"], strict=True):
        user.seen.track(title, artist, plays, top=True)
    report.accepted = len(frame)
    return Rows(
        fetched=len(frame),
        items=_track_items(frame),
        interactions=interaction_frame(user.user_key, frame["key"], "top", frame["weight"]),
    )


def _loved_rows(user: LastfmListener, pages: Sequence[Page], report: ImportReport) -> Rows:
    nodes = _entries(pages, report)
    frame = _track_frame(_track_rows(nodes, report)).drop_duplicates("key")
    for title, artist in zip(frame["name"], frame["artist"], strict=True):
        user.seen.track(title, artist, 1.0)
    report.accepted = len(frame)
    # a love has no time in the natural key: loving, un-loving and loving again is one love
    return Rows(
        fetched=len(frame),
        items=_track_items(frame),
        interactions=interaction_frame(user.user_key, frame["key"], "love", [1.0] * len(frame)),
    )


# --- the scrobble history ---------------------------------------------------------------------
def _read_history(user: LastfmListener, step: Step) -> Iterator[Page]:
    """The scrobble history since the newest stored scrobble, oldest page first.

    Pages are numbered from the newest; with ``to`` fixed at the start of the fetch they do not
    move while we read them. Page 1 is read first (to learn the page count) and yielded last.
    """
    since = user.store.latest_event_ms(SCROBBLES, user.user_key, "play")
    params: dict[str, Any] = {"user": user.name, "to": int(time.time()) + 1}
    if since is not None:
        params["from"] = since // 1000
    what = f"history of {user.name}"

    def page(number: int) -> minidom.Element:
        answer = user.client.call(
            "user.getRecentTracks",
            {**params, "limit": user.options.page_size, "page": number},
            what=f"{what}, page {number}",
        )
        return expect(answer, "recenttracks")

    newest = page(1)
    total = total_pages(newest)
    if user.options.history_pages is not None:
        total = min(total, user.options.history_pages)
    for done, number in enumerate(range(total, 0, -1), start=1):  # oldest page first
        yield children(newest if number == 1 else page(number), "track")
        step(0.9 * done / max(total, 1), f"{what}: {done} of {total} pages")


def _history_rows(user: LastfmListener, pages: Sequence[Page], report: ImportReport) -> Rows:
    """One checkpoint of the history: its pages' scrobbles, oldest first."""
    rows: list[TrackRow] = []
    for nodes in pages:
        report.rows_read += len(nodes)
        scrobbles = _track_rows(nodes, report, recent=True)
        scrobbles.reverse()  # oldest first within the page too
        rows.extend(scrobbles)
        for row in scrobbles:
            user.seen.track(row[1], row[2], 1.0)
    if not rows:
        return Rows(fetched=0)
    frame = _track_frame(rows)
    dupes = frame.duplicated(["key", "timestamp"])
    report.drop("duplicate scrobble (same track, same time)", int(dupes.sum()))
    frame = frame[~dupes]
    report.accepted = len(frame)
    return Rows(
        fetched=len(rows),
        items=_track_items(frame),
        interactions=interaction_frame(
            user.user_key, frame["key"], "play", [1.0] * len(frame), frame["timestamp"]
        ),
    )


# --- tags -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _TagAnswer:
    """One item's tag request: the item, and its strongest tags (``None``: not answered)."""

    key: str
    params: dict[str, str]
    tags: list[tuple[str, float]] | None
    outcome: Literal["ok", "skipped", "failed"] = "ok"


def _tag_targets(user: LastfmListener) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    options = user.options
    return user.seen.strongest_artists(options.tag_artists), user.seen.strongest_tracks(
        options.tag_tracks
    )


def _read_tags(user: LastfmListener, step: Step) -> Iterator[_TagAnswer]:
    """Top tags of the user's strongest artists and tracks that have none stored yet."""
    artists, tracks = _tag_targets(user)
    keys = [a[0] for a in artists] + [t[0] for t in tracks]
    if not keys:
        return
    have = user.store.item_keys_with_tags(keys)
    todo = set(user.run.claim([k for k in keys if k not in have]))
    jobs: list[tuple[str, str, dict[str, str]]] = [
        (key, "artist.getTopTags", {"artist": name}) for key, name in artists if key in todo
    ]
    jobs += [
        (key, "track.getTopTags", {"artist": name, "track": title})
        for key, title, name in tracks
        if key in todo
    ]
    for done, (key, method, params) in enumerate(jobs, start=1):
        subject = " - ".join(reversed(list(params.values())))
        try:
            answer = user.client.call(method, params, what=f"tags of {subject}", scope="item")
        except ItemSkipped:
            yield _TagAnswer(key, params, None, "skipped")
            continue
        except GaveUp:
            yield _TagAnswer(key, params, None, "failed")
            continue
        yield _TagAnswer(key, params, _top_tags(expect(answer, "toptags")))
        step(0.9 * done / max(len(jobs), 1), f"tags: {done} of {len(jobs)} items")


def _top_tags(body: minidom.Element) -> list[tuple[str, float]]:
    tags = []
    for node in children(body, "tag"):
        tag = (node_text(node, "name") or "").strip().lower()
        if tag:
            tags.append((tag, to_number(node_text(node, "count"))))
    tags.sort(key=lambda t: (-t[1], t[0]))
    return tags


def _tag_rows(user: LastfmListener, answers: Sequence[_TagAnswer], report: ImportReport) -> Rows:
    artists, tracks = _tag_targets(user)
    if not artists and not tracks:
        return Rows(
            fetched=0,
            note="tags: no artists or tracks in this fetch to tag (fetch top lists or history "
            "with them)",
        )
    skipped = sum(a.outcome == "skipped" for a in answers)
    failed = sum(a.outcome == "failed" for a in answers)
    report.rows_read = len(answers)
    report.accepted = len(answers) - skipped - failed
    report.drop("unknown to Last.fm", skipped)
    report.drop("gave up after retries", failed)
    item_rows: list[tuple[str, str, str, str | None, str]] = []
    tag_rows: list[tuple[str, str, str, float]] = []
    for answer in answers:
        if answer.tags is None:
            continue
        artist, title = answer.params["artist"], answer.params.get("track")
        if title is None:
            item_rows.append((answer.key, "artist", artist, None, link_key("artist", artist)))
        else:
            item_rows.append((answer.key, "track", title, artist, link_key("track", title, artist)))
        kept = answer.tags[: user.options.tags_per_item]
        tag_rows.extend((answer.key, "tag", tag, weight) for tag, weight in kept)
    tags = pd.DataFrame(tag_rows, columns=["item_key", "kind", "tag", "weight"])
    return Rows(
        fetched=report.accepted,
        items=pd.DataFrame(item_rows, columns=ITEM_COLUMNS) if item_rows else None,
        tags=tags.drop_duplicates(["item_key", "tag"]),
        with_user=False,
        note=f"tags: {skipped} item(s) unknown to Last.fm were skipped" if skipped else None,
        failure=(
            f"tags of {failed} of {len(answers)} item(s) gave up after retries" if failed else None
        ),
    )


# --- frames -----------------------------------------------------------------------------------
def _track_rows(
    nodes: Sequence[minidom.Element], report: ImportReport, recent: bool = False
) -> list[TrackRow]:
    rows = []
    for node in nodes:
        if recent and node.getAttribute("nowplaying") == "true":
            report.drop("now playing (not a finished scrobble)")
            continue
        title = node_text(node, "name")
        artist_node = first_child(node, "artist")
        artist = node_text(artist_node, "name") or node_text(artist_node)
        key = track_key(title, artist)
        if not key:
            report.drop("track without a title or an artist")
            continue
        stamp = None
        date = first_child(node, "date")
        if date is not None and date.getAttribute("uts"):
            stamp = pd.Timestamp(int(to_number(date.getAttribute("uts"))), unit="s", tz="UTC")
        elif recent:
            report.drop("scrobble without a time")
            continue
        plays = to_number(node_text(node, "playcount")) if not recent else 1.0
        rows.append((key, str(title), str(artist), link_key("track", title, artist), plays, stamp))
    return rows


def _track_frame(rows: Sequence[TrackRow]) -> pd.DataFrame:
    return pd.DataFrame(
        list(rows), columns=["key", "name", "artist", "link_key", "weight", "timestamp"]
    )


def _track_items(frame: pd.DataFrame) -> pd.DataFrame:
    items = frame.drop_duplicates("key")
    return pd.DataFrame(
        {
            "key": items["key"].to_numpy(),
            "kind": "track",
            "name": items["name"].to_numpy(),
            "artist": items["artist"].to_numpy(),
            "link_key": items["link_key"].to_numpy(),
        }
    )


_TOP_ARTISTS = _top_list("user.getTopArtists", "artist", "top artists", lambda o: o.top_artists)
_TOP_ALBUMS = _top_list("user.getTopAlbums", "album", "top albums", lambda o: o.top_albums)
_TOP_TRACKS = _top_list("user.getTopTracks", "track", "top tracks", lambda o: o.top_tracks)


def _history_checkpoint(user: LastfmListener) -> int:
    return user.options.history_chunk_pages


#: What can be fetched per user, in the order it is fetched (tags last: they need the items).
#: Each kind's interactions go to its own data set (one item kind per data set, so that each can
#: be trained on as it is: artist play counts like HetRec, track counts + loves, timed scrobbles).
KIND_TABLE: tuple[Kind[LastfmListener, Any], ...] = (
    Kind("top-artists", "lastfm-artists", _TOP_ARTISTS, _artist_rows),
    Kind("top-albums", "lastfm-albums", _TOP_ALBUMS, _album_rows),
    Kind("top-tracks", "lastfm-tracks", _TOP_TRACKS, _top_track_rows),
    Kind("loved", "lastfm-tracks", _read_loved, _loved_rows),
    Kind("history", SCROBBLES, _read_history, _history_rows, checkpoint=_history_checkpoint),
    Kind("tags", "", _read_tags, _tag_rows),
)
