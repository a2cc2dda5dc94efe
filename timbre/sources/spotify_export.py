"""Spotify account exports: the basic and the extended streaming history, alone or together.

Spotify hands out two shapes of listening history. The "Account data" export has
``StreamingHistory_music_0.json`` (older: ``StreamingHistory0.json``) with ``endTime``,
``artistName``, ``trackName`` and ``msPlayed``: about the last year, end times to the minute, no
track URIs. The "Extended streaming history" has ``Streaming_History_Audio_2019-2021_0.json``
(older: ``endsong_0.json``) with ``ts``, ``ms_played``, ``master_metadata_*`` and
``spotify_track_uri``: the account's whole life, end times to the second.

People often upload both at once (several files, a folder, one zip, or one zip of each), so the
two shapes are merged here. The extended history is the richer copy of a play: a basic play is a
duplicate when the extended history holds a stream of the same title ending in the same minute
(see :func:`basic_duplicates`), and the basic plays kept take the Spotify track URI that the
extended history gives the same track and artist. What each file gave is in the report's
``files`` (:class:`ExportFile`); a file that is not a streaming history, or cannot be read, is
named there with the reason while the other files are imported.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
import pandas as pd

from timbre.errors import DataError
from timbre.records import ImportBatch, ImportReport, link_key, name_key
from timbre.sources.exports import personal_plays_batch
from timbre.sources.textio import MAX_ZIP_BYTES, decode_text, drop_reasons, read_bytes, read_zip

DEFAULT_MIN_PLAY_MS = 30_000
#: ``(track, artist, Spotify URI, ms played, when)`` of one stream in an export.
Stream = tuple[Any, Any, Any, Any, Any]
#: The two shapes of a streaming history.
Shape = Literal["basic", "extended"]
#: One music play: track, artist, URI, ms played, end time, shape and the file it came from.
Play = tuple[str, str, str | None, float, pd.Timestamp, Shape, str]
_COLUMNS = ["track", "artist", "uri", "ms", "timestamp", "shape", "file"]

_SPOTIFY_NAME = re.compile(
    r"^(StreamingHistory(_music)?_?\d*|Streaming_History_Audio_.*|endsong_?\d*)\.json$",
    re.IGNORECASE,
)
_NO_HISTORY = (
    "holds no Spotify streaming history files "
    "(StreamingHistory_music_*.json, Streaming_History_Audio_*.json, endsong_*.json)"
)
_PODCAST = "podcast episode or audiobook (skipped)"
_DUPLICATE = "duplicate play (same track, same time)"
ALSO_EXTENDED = "play also in the extended history (same title, same minute)"
_NOT_HISTORY = "not a streaming history file (Spotify's other export files are not imported)"
_NOT_SPOTIFY = "not part of a Spotify export: import it on its own"


def is_spotify_history(name: str) -> bool:
    """Whether a file name is one of a Spotify export's music streaming history files.

    Examples
    --------
    >>> is_spotify_history("StreamingHistory_music_0.json"), is_spotify_history("Playlist1.json")
    (True, False)
    """
    return bool(_SPOTIFY_NAME.match(name))


@dataclass
class ExportFile:
    """What one file of a Spotify export gave.

    ``shape`` is ``basic``, ``extended`` (both, joined by ``+``, for a file that mixes them) or
    ``""`` for a file that was not read; ``plays`` were imported, ``duplicates`` were plays also
    in another file (or twice in this one), ``dropped`` the other rows left out (podcasts, short
    plays, ...). ``skipped`` says why a file gave nothing: not a history file, or unreadable.
    """

    name: str
    shape: str = ""
    rows: int = 0
    plays: int = 0
    duplicates: int = 0
    dropped: int = 0
    skipped: str | None = None

    def line(self) -> str:
        """One line for the CLI's summary."""
        if self.skipped:
            return f"{self.name}: not imported: {self.skipped}"
        return (
            f"{self.name} ({self.shape or 'empty'}): read {self.rows:,} rows, imported "
            f"{self.plays:,}, duplicates {self.duplicates:,}, other drops {self.dropped:,}"
        )


@dataclass
class SpotifyImportReport(ImportReport):
    """An import report that also says what each file of the export gave (``files``)."""

    files: list[ExportFile] = field(default_factory=list)

    def summary(self) -> str:
        """The report's lines, then one per file."""
        return "\n".join([super().summary(), *(f"  file {f.line()}" for f in self.files)])

    def as_dict(self) -> dict[str, object]:
        """The report's JSON view with ``files``: one dict per file (see :class:`ExportFile`)."""
        return {**super().as_dict(), "files": [asdict(f) for f in self.files]}

    def skip(self, name: str, reason: str, unreadable: bool = False) -> None:
        """Record a file that gave nothing; an ``unreadable`` history file is also a warning."""
        self.skipped_files.append(name)
        self.files.append(ExportFile(name, skipped=reason))
        if unreadable:
            self.warnings.append(f"{name} was not imported: {reason}")


def read_spotify_export(
    path: Path,
    user: str | None = None,
    min_play_ms: int = DEFAULT_MIN_PLAY_MS,
    max_zip_bytes: int = MAX_ZIP_BYTES,
) -> ImportBatch:
    """Read a Spotify account export: basic and/or extended streaming history; file, folder or
    zip (a folder may hold zips: each export's download).

    Podcast episodes and audiobooks are skipped and counted; plays shorter than
    ``min_play_ms`` are dropped and counted; the same track at the same time twice is a
    duplicate, and so is a basic play that the extended history also holds (same title, same
    minute): both are dropped and counted. Timestamps are kept (UTC; the end of the stream).
    In a folder, files that are not a streaming history, or cannot be read, are reported by
    name with the reason (``report.files``) and the others are imported.

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
        One user's timed track plays (data set ``spotify-export``); its report is a
        :class:`SpotifyImportReport`.

    Raises
    ------
    DataError
        No such path, no user, no history files, none of them readable (each is named with
        the reason), malformed JSON in the only file, or no music plays.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file or folder: {path}")
    if not user:
        raise DataError(
            "a Spotify export does not say whose it is: give a user name "
            "(--user NAME, or the User name field)"
        )
    report = SpotifyImportReport(source="spotify-export", dataset="spotify-export")
    documents = _spotify_documents(path, report, max_zip_bytes)
    plays = _read_documents(documents, report, min_play_ms)
    if not plays:
        unread = "".join(f"; {w}" for w in report.warnings)
        raise DataError(f"{path.name} has no music plays to import: {drop_reasons(report)}{unread}")
    frame = _without_duplicates(_plays_frame(plays), report)
    outcomes = {f.name: f for f in report.files}
    for name, count in frame["file"].value_counts().items():
        outcomes[str(name)].plays = int(count)
    report.files.sort(key=lambda f: f.name)
    report.accepted = len(frame)
    return personal_plays_batch(
        "spotify-export", report, f"spotify:user:{user}", user, frame, title="track"
    )


# --- which files ------------------------------------------------------------------------------


def _spotify_documents(
    path: Path, report: SpotifyImportReport, max_bytes: int
) -> list[tuple[str, bytes]]:
    """``(file name, bytes)`` of the history files in a folder, a zip, or the one file given."""
    if path.is_dir():
        return _folder_documents(path, report, max_bytes)
    if path.suffix.lower() == ".zip":
        chosen = _zip_documents(path, "", report, max_bytes)
        if not chosen:
            raise DataError(f"{path.name} {_NO_HISTORY}")
        return chosen
    return [(path.name, read_bytes(path))]


def _zip_documents(
    path: Path, prefix: str, report: SpotifyImportReport, max_bytes: int
) -> list[tuple[str, bytes]]:
    """The history files in a zip, named ``prefix`` + base name; its other JSON is skipped."""
    members = read_zip(path, lambda n: n.lower().endswith(".json"), max_bytes=max_bytes)
    chosen = []
    for member in members:
        name = PurePosixPath(member.name).name
        if is_spotify_history(name):
            chosen.append((prefix + name, member.data))
        else:
            report.skip(prefix + name, _NOT_HISTORY)
    return chosen


def _folder_documents(
    folder: Path, report: SpotifyImportReport, max_bytes: int
) -> list[tuple[str, bytes]]:
    """The history files in a folder and in the zips in it; every other file is reported."""
    chosen: list[tuple[str, bytes]] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        try:
            if is_spotify_history(path.name):
                chosen.append((name, read_bytes(path)))
            elif path.suffix.lower() == ".zip":
                found = _zip_documents(path, f"{name}/", report, max_bytes)
                if not found:
                    report.skip(name, f"a zip that {_NO_HISTORY}")
                chosen += found
            else:
                report.skip(name, _NOT_HISTORY if path.suffix.lower() == ".json" else _NOT_SPOTIFY)
        except DataError as exc:
            report.skip(name, str(exc), unreadable=True)
    if not chosen:
        unread = "".join(f"; {w}" for w in report.warnings)
        raise DataError(f"{folder} {_NO_HISTORY}{unread}")
    return chosen


# --- reading ----------------------------------------------------------------------------------


def _read_documents(
    documents: list[tuple[str, bytes]], report: SpotifyImportReport, min_play_ms: int
) -> list[Play]:
    """Every music play of the documents; a document that cannot be read is skipped and
    reported, unless it is the only one (its error is then the import's)."""
    plays: list[Play] = []
    failures = []
    for name, data in documents:
        try:
            found, outcome, drops = _read_document(name, data, min_play_ms)
        except DataError as exc:
            if len(documents) == 1:
                raise
            failures.append(str(exc))
            report.skip(name, str(exc), unreadable=True)
            continue
        report.rows_read += outcome.rows
        report.dropped.update(drops)
        report.files.append(outcome)
        plays += found
    if len(failures) == len(documents):
        raise DataError(
            f"none of the {len(documents)} streaming history files could be read: "
            + "; ".join(failures)
        )
    return plays


def _read_document(
    name: str, data: bytes, min_play_ms: int
) -> tuple[list[Play], ExportFile, Counter[str]]:
    """One history file's music plays, what it gave, and its dropped rows per reason.

    Raises
    ------
    DataError
        The file is not a JSON list of plays of either shape.
    """
    rows = _load_json_list(name, data)
    plays: list[Play] = []
    drops: Counter[str] = Counter()
    shapes: set[str] = set()
    for row in rows:
        shape, stream = _stream(row, name)
        shapes.add(shape)
        if stream is None:
            drops[_PODCAST] += 1
            continue
        play = _music_play(stream, min_play_ms)
        if isinstance(play, str):
            drops[play] += 1
        else:
            plays.append((*play, shape, name))
    outcome = ExportFile(
        name, shape="+".join(sorted(shapes)), rows=len(rows), dropped=sum(drops.values())
    )
    return plays, outcome, drops


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


def _stream(row: dict[str, Any], name: str) -> tuple[Shape, Stream | None]:
    """The shape and fields of one stream; the fields are ``None`` for a podcast or book.

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
            return "extended", None
        stream = (track, artist, row.get("spotify_track_uri"), row.get("ms_played"), row.get("ts"))
        return "extended", stream
    if "endTime" in row or "msPlayed" in row:  # basic history
        if "episodeName" in row or "podcastName" in row:
            return "basic", None
        track, artist = row.get("trackName"), row.get("artistName")
        return "basic", (track, artist, None, row.get("msPlayed"), row.get("endTime"))
    raise DataError(
        f"{name}: rows have neither the basic (endTime, msPlayed) nor the "
        f"extended (ts, ms_played) Spotify fields; keys seen: "
        f"{', '.join(sorted(row)[:8])}"
    )


def _music_play(
    stream: Stream, min_play_ms: int
) -> tuple[str, str, str | None, float, pd.Timestamp] | str:
    """``(track, artist, uri, ms, time)`` of a stream that counts as a play; else the reason
    it is dropped."""
    track, artist, uri, ms, when = stream
    if not track or not artist:
        return "missing track name or artist"
    try:
        played = float(ms if ms is not None else "nan")
    except (TypeError, ValueError):
        return "non-numeric play duration"
    if not np.isfinite(played) or played < 0:
        return "non-numeric play duration"
    if played < min_play_ms:
        return f"play shorter than {min_play_ms / 1000:g} s"
    stamp = pd.to_datetime(str(when), utc=True, errors="coerce") if when else pd.NaT
    if pd.isna(stamp):
        return "unparseable timestamp"
    return str(track), str(artist), uri if isinstance(uri, str) else None, played, stamp


# --- merging the two shapes -------------------------------------------------------------------


def _track_uri_key(uri: object) -> str | None:
    """``spotify:track:<id>`` for a track URI; ``None`` for anything else (missing: NaN)."""
    if isinstance(uri, str) and uri.startswith("spotify:track:"):
        return f"spotify:track:{uri.rsplit(':', 1)[-1]}"
    return None


def _plays_frame(plays: list[Play]) -> pd.DataFrame:
    """The plays as a frame with ``link_key`` and ``item_key``.

    A play with a track URI is that track; one without (every basic play) takes the URI of
    another play of the same track and artist when there is one, else a name key. Note: pandas
    stores a missing URI as NaN in a column of strings, so URIs are tested by type.
    """
    frame = pd.DataFrame(plays, columns=_COLUMNS)
    frame["link_key"] = [
        link_key("track", t, a) for t, a in zip(frame["track"], frame["artist"], strict=True)
    ]
    by_name: dict[str, str] = {}
    for uri, key in zip(frame["uri"], frame["link_key"], strict=True):
        uri_key = _track_uri_key(uri)
        if uri_key and key:
            by_name.setdefault(key, uri_key)
    frame["item_key"] = [
        _track_uri_key(uri) or by_name.get(key) or f"spotify:name:{key}"
        for uri, key in zip(frame["uri"], frame["link_key"], strict=True)
    ]
    return frame


def basic_duplicates(frame: pd.DataFrame) -> pd.Series:
    """Which basic plays the extended history also holds.

    A basic play (end time to the minute) is the same stream as an extended one (to the second)
    when both have the same title (normalised, see ``name_key``) and the extended end time,
    truncated to the minute, is the basic one, or the minute before it from its 30th second on
    (the basic export may round). The artist is not compared: the basic export names the
    track's artist and the extended one the album's, which differ on compilations; one account
    streams one thing at a time, so the same title ending in the same minute is one stream.

    Parameters
    ----------
    frame
        Plays with ``track``, ``timestamp`` (UTC) and ``shape`` (``basic`` / ``extended``).

    Returns
    -------
    pandas.Series
        True for each basic play that is a duplicate, aligned with ``frame``.
    """
    extended = (frame["shape"] == "extended").to_numpy()
    if extended.all() or not extended.any():
        return pd.Series(False, index=frame.index)
    titles = [name_key(t) or str(t).casefold() for t in frame["track"]]
    minutes = frame["timestamp"].dt.floor("min")
    seen: set[tuple[str, pd.Timestamp]] = set()
    for title, minute, stamp, is_extended in zip(
        titles, minutes, frame["timestamp"], extended, strict=True
    ):
        if is_extended:
            seen.add((title, minute))
            if stamp.second >= 30:
                seen.add((title, minute + pd.Timedelta(minutes=1)))
    duplicate = [
        not is_extended and (title, minute) in seen
        for title, minute, is_extended in zip(titles, minutes, extended, strict=True)
    ]
    return pd.Series(duplicate, index=frame.index)


def _without_duplicates(frame: pd.DataFrame, report: SpotifyImportReport) -> pd.DataFrame:
    """The plays without the same track at the same time twice and without basic plays that
    the extended history also holds; both counted in the report and per file."""
    exact = frame.duplicated(["item_key", "timestamp"])
    report.drop(_DUPLICATE, int(exact.sum()))
    also_extended = basic_duplicates(frame) & ~exact
    report.drop(ALSO_EXTENDED, int(also_extended.sum()))
    duplicate = exact | also_extended
    outcomes = {f.name: f for f in report.files}
    for name, count in frame.loc[duplicate, "file"].value_counts().items():
        outcomes[str(name)].duplicates = int(count)
    return frame[~duplicate]
