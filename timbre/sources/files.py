"""File importers: HetRec 2K, interactions CSV, Spotify account exports, Last.fm CSV exports.

Every reader returns an ``ImportBatch`` whose report counts rows read, accepted and dropped per
reason; ``read_path`` is the one dispatcher the CLI and the app call.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
import pandas as pd

from timbre.errors import DataError
from timbre.records import ImportBatch, ImportReport, ItemKind, link_key
from timbre.sources.catalog import read_catalog, read_catalog_playlists
from timbre.sources.textio import (
    MAX_ZIP_BYTES,
    decode_text,
    read_bytes,
    read_csv_text,
    read_zip,
)

HETREC_DATASET = "hetrec-lastfm-2k"
FORMATS: tuple[str, ...] = (
    "hetrec",
    "catalog",
    "spotify-playlists",
    "interactions-csv",
    "spotify-export",
    "lastfm-csv",
)
DEFAULT_MIN_PLAY_MS = 30_000

# --- HetRec 2011 Last.fm 2K -------------------------------------------------------------------

_HETREC_FILES = {
    "user_artists": ("userID", "artistID", "weight"),
    "artists": ("id", "name"),
    "tags": ("tagID", "tagValue"),
    "user_taggedartists": ("userID", "artistID", "tagID"),
    "user_friends": ("userID", "friendID"),
}


def _find(folder: Path, stem: str, required: bool = True) -> Path | None:
    for name in (
        f"{stem}.dat",
        f"{stem}.dat.gz",
        f"{stem}-timestamps.dat",
        f"{stem}-timestamps.dat.gz",
    ):
        if (folder / name).is_file():
            return folder / name
    if required:
        raise DataError(f"{folder} has no {stem}.dat (or .dat.gz): not a HetRec Last.fm folder")
    return None


def _hetrec_table(path: Path, stem: str, report: ImportReport) -> pd.DataFrame:
    text = decode_text(read_bytes(path), path.name, None if stem == "tags" else report.warnings)
    frame = read_csv_text(text, path.name, sep="\t")
    missing = [c for c in _HETREC_FILES[stem] if c not in frame.columns]
    if missing:
        raise DataError(f"{path.name} lacks column(s) {', '.join(missing)}")
    return frame


def _numeric(
    frame: pd.DataFrame, columns: tuple[str, ...], report: ImportReport, what: str
) -> pd.DataFrame:
    values = {c: pd.to_numeric(frame[c], errors="coerce") for c in columns}
    ok = np.logical_and.reduce([v.notna().to_numpy() for v in values.values()])
    report.drop(f"{what}: non-numeric value", int((~ok).sum()))
    out = frame.loc[ok].copy()
    for c in columns:
        out[c] = values[c][ok]
    return out


def read_hetrec(folder: Path) -> ImportBatch:
    """Read the HetRec 2011 Last.fm 2K folder (``.dat`` or ``.dat.gz`` files).

    Artists listened to but missing from ``artists.dat`` are kept with a placeholder name and
    counted as a warning; tags of unknown artists or unknown tag ids are dropped and counted.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder (HetRec is a folder of .dat files)")
    report = ImportReport(source="hetrec", dataset=HETREC_DATASET)
    plays = _hetrec_table(_find(folder, "user_artists"), "user_artists", report)  # type: ignore[arg-type]
    report.rows_read += len(plays)
    plays = _numeric(plays, ("userID", "artistID", "weight"), report, "user_artists")
    negative = plays["weight"] < 0
    report.drop("user_artists: negative play count", int(negative.sum()))
    plays = plays[~negative & np.isfinite(plays["weight"])]
    dupes = plays.duplicated(["userID", "artistID"])
    report.drop("user_artists: duplicate user-artist row", int(dupes.sum()))
    plays = plays[~dupes]
    if plays.empty:
        raise DataError(f"{folder / 'user_artists.dat'} has no usable rows")
    report.accepted = len(plays)

    artists = _hetrec_table(_find(folder, "artists"), "artists", report)  # type: ignore[arg-type]
    artists = _numeric(artists, ("id",), report, "artists").drop_duplicates("id")
    names = dict(
        zip(artists["id"].astype(int), artists["name"].fillna("").astype(str), strict=True)
    )
    artist_ids = sorted(set(plays["artistID"].astype(int)) | set(names))
    unnamed = [a for a in artist_ids if not names.get(a)]
    if unnamed:
        report.warnings.append(
            f"{len(unnamed)} artists have no name in artists.dat; kept with a placeholder name"
        )
    item_names = [names.get(a) or f"HetRec artist {a}" for a in artist_ids]
    items = pd.DataFrame(
        {
            "key": [f"hetrec:artist:{a}" for a in artist_ids],
            "kind": "artist",
            "name": item_names,
            "artist": None,
            "link_key": [
                link_key("artist", n) if names.get(a) else ""
                for a, n in zip(artist_ids, item_names, strict=True)
            ],
        }
    )
    user_ids = sorted(set(plays["userID"].astype(int)))
    users = pd.DataFrame(
        {
            "key": [f"hetrec:user:{u}" for u in user_ids],
            "name": [f"HetRec user {u}" for u in user_ids],
        }
    )
    interactions = pd.DataFrame(
        {
            "user_key": "hetrec:user:" + plays["userID"].astype(int).astype(str),
            "item_key": "hetrec:artist:" + plays["artistID"].astype(int).astype(str),
            "event": "play",
            "weight": plays["weight"].astype(float).to_numpy(),
            "timestamp": pd.NaT,
        }
    )

    tags = pd.DataFrame(columns=["item_key", "kind", "tag", "weight"])
    tag_path = _find(folder, "user_taggedartists", required=False)
    tag_names_path = _find(folder, "tags", required=False)
    if tag_path is not None and tag_names_path is not None:
        tag_names = _hetrec_table(tag_names_path, "tags", report)
        tag_names = _numeric(tag_names, ("tagID",), report, "tags")
        tag_value = dict(
            zip(
                tag_names["tagID"].astype(int),
                tag_names["tagValue"].fillna("").astype(str).str.strip().str.lower(),
                strict=True,
            )
        )
        assigned = _hetrec_table(tag_path, "user_taggedartists", report)
        assigned = _numeric(assigned, ("userID", "artistID", "tagID"), report, "user_taggedartists")
        known_artist = assigned["artistID"].astype(int).isin(set(artist_ids))
        report.drop(
            "user_taggedartists: tag on an artist nobody listened to", int((~known_artist).sum())
        )
        assigned = assigned[known_artist]
        assigned = assigned.assign(tag=assigned["tagID"].astype(int).map(tag_value))
        known_tag = assigned["tag"].notna() & (assigned["tag"] != "")
        report.drop("user_taggedartists: unknown tag id", int((~known_tag).sum()))
        counts = (
            assigned[known_tag]
            .drop_duplicates(["userID", "artistID", "tag"])
            .groupby(["artistID", "tag"])
            .size()
            .reset_index(name="weight")
        )
        tags = pd.DataFrame(
            {
                "item_key": "hetrec:artist:" + counts["artistID"].astype(int).astype(str),
                "kind": "tag",
                "tag": counts["tag"].astype(str),
                "weight": counts["weight"].astype(float),
            }
        )

    friends = pd.DataFrame(columns=["user_key", "friend_key"])
    friends_path = _find(folder, "user_friends", required=False)
    if friends_path is not None:
        pairs = _hetrec_table(friends_path, "user_friends", report)
        pairs = _numeric(pairs, ("userID", "friendID"), report, "user_friends")
        known = set(user_ids)
        inside = pairs["userID"].astype(int).isin(known) & pairs["friendID"].astype(int).isin(known)
        report.drop("user_friends: friend outside the listening data", int((~inside).sum()))
        pairs = pairs[inside]
        friends = pd.DataFrame(
            {
                "user_key": "hetrec:user:" + pairs["userID"].astype(int).astype(str),
                "friend_key": "hetrec:user:" + pairs["friendID"].astype(int).astype(str),
            }
        )
    return ImportBatch(
        dataset=HETREC_DATASET,
        source="hetrec",
        report=report,
        items=items,
        users=users,
        interactions=interactions,
        tags=tags,
        friends=friends,
    )


# --- generic interactions CSV -----------------------------------------------------------------

_ROLE_NAMES = {
    "user": ("user", "user_id", "userid", "user_key", "listener", "username", "user_name"),
    "item": (
        "item",
        "item_id",
        "itemid",
        "item_key",
        "artist",
        "artist_name",
        "track",
        "track_name",
        "song",
        "title",
    ),
    "artist": ("artist", "artist_name", "track_artist"),
    "weight": ("weight", "count", "plays", "playcount", "play_count", "rating", "score"),
    "timestamp": ("timestamp", "time", "ts", "date", "datetime", "played_at", "utc_time"),
}


def _resolve_columns(
    frame: pd.DataFrame, columns: Mapping[str, str] | None, name: str
) -> dict[str, str]:
    lowered = {c.lower(): c for c in frame.columns}
    chosen: dict[str, str] = {}
    unknown_roles = set(columns or {}) - set(_ROLE_NAMES)
    if unknown_roles:
        raise DataError(
            f"unknown column role(s) {sorted(unknown_roles)}; use user, item, "
            "artist, weight, timestamp"
        )
    for role, wanted in (columns or {}).items():
        if wanted not in frame.columns:
            raise DataError(
                f"{name} has no column {wanted!r} (mapped to {role}); columns are "
                f"{', '.join(frame.columns)}"
            )
        chosen[role] = wanted
    for role, candidates in _ROLE_NAMES.items():
        if role in chosen:
            continue
        for candidate in candidates:
            column = lowered.get(candidate)
            if column is not None and column not in chosen.values():
                chosen[role] = column
                break
    for role in ("user", "item"):
        if role not in chosen:
            raise DataError(
                f"{name} has no {role} column (looked for "
                f"{', '.join(_ROLE_NAMES[role][:5])}, ...); columns are "
                f"{', '.join(frame.columns)}; map one with {role}=NAME"
            )
    return chosen


def read_interactions_csv(
    path: Path,
    dataset: str | None = None,
    columns: Mapping[str, str] | None = None,
    event: str = "play",
    item_kind: ItemKind = "artist",
) -> ImportBatch:
    """Read a generic ``user, item[, weight][, timestamp]`` CSV (column names mappable).

    Rows with a missing user or item, a non-numeric, non-finite or negative weight, or an
    unparseable timestamp are dropped and counted; exact duplicate rows are dropped and counted.
    """
    path = Path(path)
    dataset = dataset or path.name.split(".")[0]
    report = ImportReport(source="csv", dataset=dataset)
    frame = read_csv_text(decode_text(read_bytes(path), path.name, report.warnings), path.name)
    if frame.empty:
        raise DataError(f"{path.name} has a header but no rows")
    roles = _resolve_columns(frame, columns, path.name)
    report.rows_read = len(frame)
    user = frame[roles["user"]].astype("string").str.strip()
    item = frame[roles["item"]].astype("string").str.strip()
    keep = user.notna() & item.notna() & (user != "") & (item != "")
    report.drop("missing user or item", int((~keep).sum()))
    weight = pd.Series(1.0, index=frame.index)
    if "weight" in roles:
        raw = frame[roles["weight"]]
        weight = pd.to_numeric(raw, errors="coerce")
        spelled_nan = raw.astype("string").str.strip().str.lower().isin(["nan", "+nan", "-nan"])
        non_numeric = keep & weight.isna() & ~spelled_nan.fillna(False)
        report.drop("non-numeric weight", int(non_numeric.sum()))
        non_finite = keep & ~non_numeric & ~np.isfinite(weight.fillna(np.nan))
        report.drop("non-finite weight (NaN or infinite)", int(non_finite.sum()))
        negative = keep & weight.notna() & np.isfinite(weight.fillna(0)) & (weight < 0)
        report.drop("negative weight", int(negative.sum()))
        keep &= ~(non_numeric | non_finite | negative)
    stamps = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    if "timestamp" in roles:
        stamps = _parse_times(frame[roles["timestamp"]])
        bad_time = keep & stamps.isna() & frame[roles["timestamp"]].notna()
        report.drop("unparseable timestamp", int(bad_time.sum()))
        keep &= ~bad_time
    out = pd.DataFrame({"user": user, "item": item, "weight": weight, "timestamp": stamps})[keep]
    artist = (
        frame[roles["artist"]].astype("string")
        if "artist" in roles and roles["artist"] != roles["item"]
        else None
    )
    if artist is not None:
        out["artist"] = artist[keep]
    dupes = out.duplicated()
    report.drop("duplicate row", int(dupes.sum()))
    out = out[~dupes]
    if out.empty:
        raise DataError(f"{path.name} has no usable rows: {_reasons(report)}")
    report.accepted = len(out)
    item_names = out.drop_duplicates("item")
    artists = (
        item_names["artist"] if "artist" in item_names else pd.Series(None, index=item_names.index)
    )
    items = pd.DataFrame(
        {
            "key": f"{dataset}:item:" + item_names["item"].astype(str),
            "kind": item_kind,
            "name": item_names["item"].astype(str).to_numpy(),
            "artist": artists.to_numpy(),
            "link_key": [
                link_key(item_kind, n, a if isinstance(a, str) else None)
                for n, a in zip(item_names["item"], artists, strict=True)
            ],
        }
    )
    user_names = out["user"].drop_duplicates()
    users = pd.DataFrame(
        {
            "key": f"{dataset}:user:" + user_names.astype(str),
            "name": user_names.astype(str).to_numpy(),
        }
    )
    interactions = pd.DataFrame(
        {
            "user_key": f"{dataset}:user:" + out["user"].astype(str),
            "item_key": f"{dataset}:item:" + out["item"].astype(str),
            "event": event,
            "weight": out["weight"].astype(float).to_numpy(),
            "timestamp": out["timestamp"].to_numpy(),
        }
    )
    return ImportBatch(
        dataset=dataset,
        source="csv",
        report=report,
        items=items,
        users=users,
        interactions=interactions,
    )


def _reasons(report: ImportReport) -> str:
    if not report.dropped:
        return "nothing left after reading"
    return "; ".join(f"{n:,} {reason}" for reason, n in sorted(report.dropped.items()))


def _parse_times(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all() and len(numeric):
        unit: Literal["ms", "s"] = "ms" if numeric.max() > 10**11 else "s"
        return pd.to_datetime(numeric, unit=unit, utc=True, errors="coerce")
    return pd.to_datetime(text, utc=True, errors="coerce", format="mixed")


# --- Spotify account exports -------------------------------------------------------------------

_SPOTIFY_NAME = re.compile(
    r"^(StreamingHistory(_music)?_?\d*|Streaming_History_Audio_.*|endsong_?\d*)\.json$",
    re.IGNORECASE,
)
_SPOTIFY_VIDEO_OR_PODCAST = re.compile(
    r"^(StreamingHistory_podcast|Streaming_History_Video)", re.IGNORECASE
)


def _is_spotify_history(name: str) -> bool:
    return bool(_SPOTIFY_NAME.match(name))


def _spotify_documents(path: Path, report: ImportReport, max_bytes: int) -> list[tuple[str, bytes]]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if _is_spotify_history(p.name))
        for other in sorted(path.rglob("*.json")):
            if not _is_spotify_history(other.name):
                report.skipped_files.append(other.name)
        if not files:
            raise DataError(
                f"{path} holds no Spotify streaming history files "
                "(StreamingHistory_music_*.json, Streaming_History_Audio_*.json, "
                "endsong_*.json)"
            )
        return [(p.name, read_bytes(p)) for p in files]
    if path.suffix.lower() == ".zip":
        members = read_zip(path, lambda n: n.lower().endswith(".json"), max_bytes=max_bytes)
        chosen = [
            (PurePosixPath(m.name).name, m.data)
            for m in members
            if _is_spotify_history(PurePosixPath(m.name).name)
        ]
        report.skipped_files.extend(
            PurePosixPath(m.name).name
            for m in members
            if not _is_spotify_history(PurePosixPath(m.name).name)
        )
        if not chosen:
            raise DataError(
                f"{path.name} holds no Spotify streaming history files "
                "(StreamingHistory_music_*.json, Streaming_History_Audio_*.json, "
                "endsong_*.json)"
            )
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
    records: list[tuple[str, str, str | None, float, pd.Timestamp | None]] = []
    for name, data in _spotify_documents(path, report, max_zip_bytes):
        rows = _load_json_list(name, data)
        report.rows_read += len(rows)
        for row in rows:
            if "ts" in row or "ms_played" in row:  # extended history
                track = row.get("master_metadata_track_name")
                artist = row.get("master_metadata_album_artist_name")
                uri = row.get("spotify_track_uri")
                ms = row.get("ms_played")
                when = row.get("ts")
                if (
                    row.get("episode_name")
                    or row.get("episode_show_name")
                    or row.get("spotify_episode_uri")
                    or row.get("audiobook_title")
                    or row.get("audiobook_uri")
                    or (track is None and artist is None)
                ):
                    report.drop("podcast episode or audiobook (skipped)")
                    continue
            elif "endTime" in row or "msPlayed" in row:  # basic history
                track, artist, uri = row.get("trackName"), row.get("artistName"), None
                ms, when = row.get("msPlayed"), row.get("endTime")
                if "episodeName" in row or "podcastName" in row:
                    report.drop("podcast episode or audiobook (skipped)")
                    continue
            else:
                raise DataError(
                    f"{name}: rows have neither the basic (endTime, msPlayed) nor the "
                    f"extended (ts, ms_played) Spotify fields; keys seen: "
                    f"{', '.join(sorted(row)[:8])}"
                )
            if not track or not artist:
                report.drop("missing track name or artist")
                continue
            try:
                played = float(ms if ms is not None else "nan")
            except (TypeError, ValueError):
                report.drop("non-numeric play duration")
                continue
            if not np.isfinite(played) or played < 0:
                report.drop("non-numeric play duration")
                continue
            if played < min_play_ms:
                report.drop(f"play shorter than {min_play_ms / 1000:g} s")
                continue
            stamp = pd.to_datetime(str(when), utc=True, errors="coerce") if when else pd.NaT
            if pd.isna(stamp):
                report.drop("unparseable timestamp")
                continue
            records.append(
                (str(track), str(artist), uri if isinstance(uri, str) else None, played, stamp)
            )
    if not records:
        raise DataError(f"{path.name} has no music plays to import: {_reasons(report)}")
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
    return _personal_plays_batch(
        "spotify-export", report, f"spotify:user:{user}", user, frame, title="track"
    )


# --- Last.fm scrobble CSV exports -------------------------------------------------------------

_UTS_HEADER = [
    "uts",
    "utc_time",
    "artist",
    "artist_mbid",
    "album",
    "album_mbid",
    "track",
    "track_mbid",
]
_DATE_1 = "%d %b %Y %H:%M"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_TIME = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")


def _first_row(text: str) -> list[str]:
    for row in csv.reader(io.StringIO(text)):
        if any(cell.strip() for cell in row):
            return [cell.strip() for cell in row]
    return []


def lastfm_layout(text: str, name: str = "file") -> str:
    """Which Last.fm export layout a CSV uses: ``"uts"``, ``"adnd"`` (artist, album, name, date;
    ``"adnd-header"`` with a header) or ``"iso"`` (date, time, artist, title).

    Raises
    ------
    DataError
        The first row fits none of the three layouts.
    """
    first = _first_row(text)
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
    """
    path = Path(path)
    user = user or _guess_user(path)
    report = ImportReport(source="lastfm-export", dataset="lastfm-export")
    text = decode_text(read_bytes(path), path.name, report.warnings)
    if not text.strip():
        raise DataError(f"{path.name} is empty")
    layout = lastfm_layout(text, path.name)
    if layout == "uts":
        frame = read_csv_text(text, path.name, sep=",")
        missing = [c for c in ("uts", "artist", "track") if c not in frame.columns]
        if missing:
            raise DataError(f"{path.name} lacks column(s) {', '.join(missing)}")
        stamps = pd.to_datetime(pd.to_numeric(frame["uts"], errors="coerce"), unit="s", utc=True)
        artist, title = frame["artist"], frame["track"]
    elif layout.startswith("adnd"):
        frame = read_csv_text(
            text,
            path.name,
            sep=",",
            header=layout == "adnd-header",
            names=None if layout == "adnd-header" else ["artist", "album", "name", "date"],
        )
        frame.columns = ["artist", "album", "name", "date", *frame.columns[4:]]
        stamps = pd.to_datetime(frame["date"], format=_DATE_1, utc=True, errors="coerce")
        artist, title = frame["artist"], frame["name"]
    else:
        frame = read_csv_text(
            text, path.name, sep=",", header=False, names=["date", "time", "artist", "title"]
        )
        stamps = pd.to_datetime(
            frame["date"].astype(str) + " " + frame["time"].astype(str),
            utc=True,
            errors="coerce",
            format="mixed",
        )
        artist, title = frame["artist"], frame["title"]
    report.rows_read = len(frame)
    named = artist.notna() & title.notna()
    report.drop("missing artist or title", int((~named).sum()))
    dated = stamps.notna()
    report.drop("unparseable date", int((named & ~dated).sum()))
    keep = named & dated
    if not keep.any():
        raise DataError(f"{path.name} has no usable scrobbles: {_reasons(report)}")
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
    return _personal_plays_batch(
        "lastfm-export", report, f"lastfm:{user}", user, out, title="title"
    )


def _personal_plays_batch(
    source: str, report: ImportReport, user_key: str, user: str, plays: pd.DataFrame, title: str
) -> ImportBatch:
    """One person's timed track plays (Spotify or Last.fm export) as a batch.

    ``plays`` has ``item_key, artist, link_key, timestamp`` and the title in column ``title``;
    each row is one play of weight 1 at its exact time; the data set is named after ``source``.
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


def _guess_user(path: Path) -> str:
    stem = path.name.split(".")[0]
    stem = re.sub(r"(?i)^(scrobbles|lastfm|last\.fm)[-_ ]*|[-_ ]*(scrobbles|lastfm)$", "", stem)
    if not re.fullmatch(r"[A-Za-z][\w\-]{1,30}", stem or ""):
        raise DataError(
            f"cannot tell whose scrobbles {path.name} holds: give a user name "
            "(--user NAME, or the User name field)"
        )
    return stem


# --- detection and the dispatcher --------------------------------------------------------------


def detect_format(path: Path) -> str:
    """Guess the format of a file, folder or zip (see ``FORMATS``).

    Raises
    ------
    DataError
        A missing path or one that matches no format (the message says what was seen).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file or folder: {path}")
    if path.is_dir():
        names = {p.name for p in path.iterdir()}
        if any(n.startswith("user_artists.dat") for n in names):
            return "hetrec"
        if any(_is_spotify_history(p.name) for p in path.rglob("*.json")):
            return "spotify-export"
        shown = ", ".join(sorted(names)[:6]) or "nothing"
        raise DataError(
            f"{path} holds no recognisable files (found: {shown}); expected the "
            "HetRec .dat files or Spotify StreamingHistory JSON files"
        )
    name = path.name.lower()
    if name.endswith(".zip"):
        return "spotify-export"
    if name.endswith(".json"):
        return "spotify-export"
    if name.startswith("user_artists.dat"):
        return "hetrec"
    data = read_bytes(path)
    text = decode_text(data[:65536], path.name)
    header = _first_row(text)
    lowered = [c.lower() for c in header]
    if "track_id" in lowered and "playlist_genre" in lowered:
        return "catalog"
    try:
        lastfm_layout(text, path.name)
        return "lastfm-csv"
    except DataError:
        return "interactions-csv"


def read_path(
    path: Path | str,
    format: str | None = None,
    *,
    dataset: str | None = None,
    user: str | None = None,
    min_play_ms: int = DEFAULT_MIN_PLAY_MS,
    columns: Mapping[str, str] | None = None,
) -> ImportBatch:
    """Read any supported input: the one entry point for the CLI and the app.

    Parameters
    ----------
    path
        A file, folder or ``.zip``.
    format
        One of ``FORMATS``; detected when ``None``.
    dataset
        Data set name for the interactions (each format has a default).
    user
        Whose personal export this is (Spotify, Last.fm CSV).
    min_play_ms
        Spotify exports: plays shorter than this are dropped and counted.
    columns
        Interactions CSV: role -> column name (``user``, ``item``, ``artist``, ``weight``,
        ``timestamp``).

    Raises
    ------
    DataError
        Anything wrong with the input; nothing has been written anywhere.
    """
    path = Path(path)
    if format is not None and format not in FORMATS:
        raise DataError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    if not path.exists():
        raise DataError(f"no such file or folder: {path}")
    fmt = format or detect_format(path)
    if fmt == "hetrec":
        batch = read_hetrec(path if path.is_dir() else path.parent)
    elif fmt == "catalog":
        batch = read_catalog(path)
    elif fmt == "spotify-playlists":
        batch = read_catalog_playlists(path)
    elif fmt == "interactions-csv":
        batch = read_interactions_csv(path, dataset, columns)
    elif fmt == "spotify-export":
        batch = read_spotify_export(path, user, min_play_ms)
    else:
        batch = read_lastfm_csv(path, user)
    if dataset and fmt not in ("catalog", "interactions-csv"):
        batch.dataset = batch.report.dataset = dataset
    return batch
