"""Personal data exports: Last.fm scrobble CSVs, and the batch both personal exports make.

A Spotify account's streaming history is read in ``spotify_export.py``.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Literal

import pandas as pd

from timbre.errors import DataError
from timbre.records import ImportBatch, ImportReport, link_key
from timbre.sources.textio import decode_text, drop_reasons, first_row, read_bytes, read_csv_text

#: The layouts of Last.fm scrobble exports (see :func:`lastfm_layout`).
LastfmLayout = Literal["uts", "adnd", "adnd-header", "iso"]

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
    layout = lastfm_layout(text, path.name)
    artist, title, stamps = _scrobbles(text, path.name, layout)
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
    batch = personal_plays_batch(
        "lastfm-export", report, f"lastfm:{user}", user, out, title="title"
    )
    batch.play_precision_s = _precision(layout, out["timestamp"])
    return batch


def _precision(layout: LastfmLayout, stamps: pd.Series) -> int:
    """How exact an export's times are (seconds): the ``adnd`` layouts give the minute, ``uts``
    the second; the ``iso`` one either (the minute when no time in the file has seconds)."""
    if layout in ("adnd", "adnd-header"):
        return 60
    if layout == "uts":
        return 1
    return 1 if bool((pd.DatetimeIndex(stamps).second != 0).any()) else 60


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
