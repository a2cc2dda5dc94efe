"""Personal data exports: a Spotify account's streaming history and Last.fm scrobble CSVs."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
import pandas as pd

from timbre.errors import DataError
from timbre.records import ImportBatch, ImportReport, link_key
from timbre.sources.textio import (
    MAX_ZIP_BYTES,
    decode_text,
    drop_reasons,
    first_row,
    read_bytes,
    read_csv_text,
    read_zip,
)

DEFAULT_MIN_PLAY_MS = 30_000
#: The layouts of Last.fm scrobble exports (see :func:`lastfm_layout`).
LastfmLayout = Literal["uts", "adnd", "adnd-header", "iso"]
#: ``(track, artist, Spotify URI, ms played, when)`` of one stream in an export.
Stream = tuple[Any, Any, Any, Any, Any]

# --- Spotify account exports -------------------------------------------------------------------

_SPOTIFY_NAME = re.compile(
    r"^(StreamingHistory(_music)?_?\d*|Streaming_History_Audio_.*|endsong_?\d*)\.json$",
    re.IGNORECASE,
)
_NO_HISTORY = (
    "holds no Spotify streaming history files "
    "(StreamingHistory_music_*.json, Streaming_History_Audio_*.json, endsong_*.json)"
)
_PODCAST = "podcast episode or audiobook (skipped)"


def is_spotify_history(name: str) -> bool:
    """Whether a file name is one of a Spotify export's music streaming history files.

    Examples
    --------
    >>> is_spotify_history("StreamingHistory_music_0.json"), is_spotify_history("Playlist1.json")
    (True, False)
    """
    return bool(_SPOTIFY_NAME.match(name))


def read_spotify_export(
    path: Path,
    user: str | None = None,
    min_play_ms: int = DEFAULT_MIN_PLAY_MS,
    max_zip_bytes: int = MAX_ZIP_BYTES,
) -> ImportBatch:
    """Read a Spotify account export: basic or extended streaming history; file, folder or zip.

    Podcast episodes and audiobooks are skipped and counted; plays shorter than
    ``min_play_ms`` are dropped and counted; the same track at the same time twice is a
    duplicate, dropped and counted. Timestamps are kept (UTC; the end of the stream).

    Parameters
    ----------
    path
        One history JSON file, the export's folder, or its ``.zip``.
    user
        Whose export it is (the export does not say).
    min_play_ms
        Shorter plays are dropped (Spotify counts a stream from 30 s).
    max_zip_bytes
        Most bytes read from a zip.

    Returns
    -------
    ImportBatch
        One user's timed track plays (data set ``spotify-export``).

    Raises
    ------
    DataError
        No such path, no user, no history files, malformed JSON, or no music plays.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file or folder: {path}")
    if not user:
        raise DataError(
            "a Spotify export does not say whose it is: give a user name "
            "(--user NAME, or the User name field)"
        )
    report = ImportReport(source="spotify-export", dataset="spotify-export")
    records: list[tuple[str, str, str | None, float, pd.Timestamp]] = []
    for name, data in _spotify_documents(path, report, max_zip_bytes):
        rows = _load_json_list(name, data)
        report.rows_read += len(rows)
        for row in rows:
            stream = _stream(row, name)
            if stream is None:
                report.drop(_PODCAST)
                continue
            record = _music_play(stream, report, min_play_ms)
            if record is not None:
                records.append(record)
    if not records:
        raise DataError(f"{path.name} has no music plays to import: {drop_reasons(report)}")
    frame = pd.DataFrame(records, columns=["track", "artist", "uri", "ms", "timestamp"])
    frame["link_key"] = [
        link_key("track", t, a) for t, a in zip(frame["track"], frame["artist"], strict=True)
    ]
    frame["item_key"] = [
        (
            f"spotify:track:{u.rsplit(':', 1)[-1]}"
            if u and u.startswith("spotify:track:")
            else f"spotify:name:{lk}"
        )
        for u, lk in zip(frame["uri"], frame["link_key"], strict=True)
    ]
    dupes = frame.duplicated(["item_key", "timestamp"])
    report.drop("duplicate play (same track, same time)", int(dupes.sum()))
    frame = frame[~dupes]
    report.accepted = len(frame)
    return personal_plays_batch(
        "spotify-export", report, f"spotify:user:{user}", user, frame, title="track"
    )


def _spotify_documents(path: Path, report: ImportReport, max_bytes: int) -> list[tuple[str, bytes]]:
    """``(file name, bytes)`` of the history files in a folder, a zip, or the one file given."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if is_spotify_history(p.name))
        for other in sorted(path.rglob("*.json")):
            if not is_spotify_history(other.name):
                report.skipped_files.append(other.name)
        if not files:
            raise DataError(f"{path} {_NO_HISTORY}")
        return [(p.name, read_bytes(p)) for p in files]
    if path.suffix.lower() == ".zip":
        members = read_zip(path, lambda n: n.lower().endswith(".json"), max_bytes=max_bytes)
        named = [(PurePosixPath(m.name).name, m.data) for m in members]
        chosen = [(n, data) for n, data in named if is_spotify_history(n)]
        report.skipped_files.extend(n for n, _data in named if not is_spotify_history(n))
        if not chosen:
            raise DataError(f"{path.name} {_NO_HISTORY}")
        return chosen
    return [(path.name, read_bytes(path))]


def _load_json_list(name: str, data: bytes) -> list[dict[str, Any]]:
    text = decode_text(data, name)
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); is the file truncated?"
        ) from None
    if not isinstance(rows, list):
        raise DataError(f"{name} holds a JSON {type(rows).__name__}, expected a list of plays")
    odd = next((r for r in rows if not isinstance(r, dict)), None)
    if odd is not None:
        raise DataError(
            f"{name} holds a list of {type(odd).__name__}s, expected a list of play objects"
        )
    return rows


def _stream(row: dict[str, Any], name: str) -> Stream | None:
    """The fields of one stream, basic or extended history; ``None`` for a podcast or book.

    Raises
    ------
    DataError
        A row with neither layout's fields (the file is not a streaming history).
    """
    if "ts" in row or "ms_played" in row:  # extended history
        track = row.get("master_metadata_track_name")
        artist = row.get("master_metadata_album_artist_name")
        if (
            row.get("episode_name")
            or row.get("episode_show_name")
            or row.get("spotify_episode_uri")
            or row.get("audiobook_title")
            or row.get("audiobook_uri")
            or (track is None and artist is None)
        ):
            return None
        return track, artist, row.get("spotify_track_uri"), row.get("ms_played"), row.get("ts")
    if "endTime" in row or "msPlayed" in row:  # basic history
        if "episodeName" in row or "podcastName" in row:
            return None
        return (
            row.get("trackName"),
            row.get("artistName"),
            None,
            row.get("msPlayed"),
            row.get("endTime"),
        )
    raise DataError(
        f"{name}: rows have neither the basic (endTime, msPlayed) nor the "
        f"extended (ts, ms_played) Spotify fields; keys seen: "
        f"{', '.join(sorted(row)[:8])}"
    )


def _music_play(
    stream: Stream, report: ImportReport, min_play_ms: int
) -> tuple[str, str, str | None, float, pd.Timestamp] | None:
    """``(track, artist, uri, ms, time)`` of a stream that counts as a play; else drop it."""
    track, artist, uri, ms, when = stream
    if not track or not artist:
        report.drop("missing track name or artist")
        return None
    try:
        played = float(ms if ms is not None else "nan")
    except (TypeError, ValueError):
        report.drop("non-numeric play duration")
        return None
    if not np.isfinite(played) or played < 0:
        report.drop("non-numeric play duration")
        return None
    if played < min_play_ms:
        report.drop(f"play shorter than {min_play_ms / 1000:g} s")
        return None
    stamp = pd.to_datetime(str(when), utc=True, errors="coerce") if when else pd.NaT
    if pd.isna(stamp):
        report.drop("unparseable timestamp")
        return None
    return str(track), str(artist), uri if isinstance(uri, str) else None, played, stamp


# --- Last.fm scrobble CSV exports -------------------------------------------------------------

_DATE_1 = "%d %b %Y %H:%M"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_TIME = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")


def lastfm_layout(text: str, name: str = "file") -> LastfmLayout:
    """Which Last.fm export layout a CSV uses: ``"uts"``, ``"adnd"`` (artist, album, name, date;
    ``"adnd-header"`` with a header) or ``"iso"`` (date, time, artist, title).

    Parameters
    ----------
    text
        The CSV (its first non-blank row decides).
    name
        The file's name, for the message.

    Returns
    -------
    str
        The layout.

    Raises
    ------
    DataError
        The first row fits none of the three layouts.

    Examples
    --------
    >>> lastfm_layout("Muse,Absolution,Hysteria,22 Mar 2022 17:55")
    'adnd'
    """
    first = first_row(text)
    lowered = [c.lower() for c in first]
    if lowered[:2] == ["uts", "utc_time"]:
        return "uts"
    if lowered[:4] in (["artist", "album", "name", "date"], ["artist", "album", "track", "date"]):
        return "adnd-header"
    if len(first) == 4 and _ISO_DATE.match(first[0]) and _ISO_TIME.match(first[1]):
        return "iso"
    if len(first) == 4:
        try:
            datetime.strptime(first[3], _DATE_1)
            return "adnd"
        except ValueError:
            pass
    raise DataError(
        f"{name} is not a Last.fm scrobble export: expected 'artist,album,name,date', "
        "'uts,utc_time,artist,...' or 'YYYY-MM-DD,HH:MM:SS,artist,title'; first row "
        f"has {len(first)} field(s)"
    )


def read_lastfm_csv(path: Path, user: str | None = None) -> ImportBatch:
    """Read a Last.fm scrobble CSV export in any of the three common layouts (auto-detected).

    Rows with an unparseable date, or without artist or title, are dropped and counted; the same
    track scrobbled twice at the same time is a duplicate, dropped and counted.

    Parameters
    ----------
    path
        The CSV file (``.gz`` is fine).
    user
        Whose scrobbles they are (default: guessed from the file name, e.g. ``rj.csv``).

    Returns
    -------
    ImportBatch
        One user's timed track plays (data set ``lastfm-export``).

    Raises
    ------
    DataError
        An empty or unreadable file, an unknown layout, no user, or no usable scrobbles.
    """
    path = Path(path)
    user = user or _guess_user(path)
    report = ImportReport(source="lastfm-export", dataset="lastfm-export")
    text = decode_text(read_bytes(path), path.name, report.warnings)
    if not text.strip():
        raise DataError(f"{path.name} is empty")
    artist, title, stamps = _scrobbles(text, path.name, lastfm_layout(text, path.name))
    report.rows_read = len(artist)
    named = artist.notna() & title.notna()
    report.drop("missing artist or title", int((~named).sum()))
    dated = stamps.notna()
    report.drop("unparseable date", int((named & ~dated).sum()))
    keep = named & dated
    if not keep.any():
        raise DataError(f"{path.name} has no usable scrobbles: {drop_reasons(report)}")
    out = pd.DataFrame(
        {
            "artist": artist[keep].astype(str),
            "title": title[keep].astype(str),
            "timestamp": stamps[keep],
        }
    )
    out["link_key"] = [
        link_key("track", t, a) for t, a in zip(out["title"], out["artist"], strict=True)
    ]
    out["item_key"] = "lastfm:track:" + out["link_key"].str.removeprefix("track:")
    dupes = out.duplicated(["item_key", "timestamp"])
    report.drop("duplicate scrobble (same track, same time)", int(dupes.sum()))
    out = out[~dupes]
    report.accepted = len(out)
    return personal_plays_batch("lastfm-export", report, f"lastfm:{user}", user, out, title="title")


def _scrobbles(
    text: str, name: str, layout: LastfmLayout
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """``(artist, title, time)`` of every row of an export in ``layout`` (``NaT``: unparseable)."""
    if layout == "uts":
        frame = read_csv_text(text, name, sep=",")
        missing = [c for c in ("uts", "artist", "track") if c not in frame.columns]
        if missing:
            raise DataError(f"{name} lacks column(s) {', '.join(missing)}")
        stamps = pd.to_datetime(pd.to_numeric(frame["uts"], errors="coerce"), unit="s", utc=True)
        return frame["artist"], frame["track"], stamps
    if layout in ("adnd", "adnd-header"):
        frame = read_csv_text(
            text,
            name,
            sep=",",
            header=layout == "adnd-header",
            names=None if layout == "adnd-header" else ["artist", "album", "name", "date"],
        )
        frame.columns = ["artist", "album", "name", "date", *frame.columns[4:]]
        stamps = pd.to_datetime(frame["date"], format=_DATE_1, utc=True, errors="coerce")
        return frame["artist"], frame["name"], stamps
    frame = read_csv_text(
        text, name, sep=",", header=False, names=["date", "time", "artist", "title"]
    )
    stamps = pd.to_datetime(
        frame["date"].astype(str) + " " + frame["time"].astype(str),
        utc=True,
        errors="coerce",
        format="mixed",
    )
    return frame["artist"], frame["title"], stamps


def _guess_user(path: Path) -> str:
    stem = path.name.split(".")[0]
    stem = re.sub(r"(?i)^(scrobbles|lastfm|last\.fm)[-_ ]*|[-_ ]*(scrobbles|lastfm)$", "", stem)
    if not re.fullmatch(r"[A-Za-z][\w\-]{1,30}", stem or ""):
        raise DataError(
            f"cannot tell whose scrobbles {path.name} holds: give a user name "
            "(--user NAME, or the User name field)"
        )
    return stem


# --- both -------------------------------------------------------------------------------------
def personal_plays_batch(
    source: str, report: ImportReport, user_key: str, user: str, plays: pd.DataFrame, title: str
) -> ImportBatch:
    """One person's timed track plays (Spotify or Last.fm export) as a batch.

    Parameters
    ----------
    source
        The importer, which also names the data set (``spotify-export``, ``lastfm-export``).
    report
        The read's report (kept in the batch).
    user_key, user
        The person's store key and name.
    plays
        ``item_key, artist, link_key, timestamp`` and the title in column ``title``; each row
        is one play of weight 1 at its exact time.
    title
        The column holding the track title.

    Returns
    -------
    ImportBatch
        The tracks, the user and the plays.
    """
    items = plays.drop_duplicates("item_key")
    return ImportBatch(
        dataset=source,
        source=source,
        report=report,
        items=pd.DataFrame(
            {
                "key": items["item_key"].to_numpy(),
                "kind": "track",
                "name": items[title].to_numpy(),
                "artist": items["artist"].to_numpy(),
                "link_key": items["link_key"].to_numpy(),
            }
        ),
        users=pd.DataFrame({"key": [user_key], "name": [user]}),
        interactions=pd.DataFrame(
            {
                "user_key": user_key,
                "item_key": plays["item_key"].to_numpy(),
                "event": "play",
                "weight": 1.0,
                "timestamp": plays["timestamp"].to_numpy(),
            }
        ),
    )
