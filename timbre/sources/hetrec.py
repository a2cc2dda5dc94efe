"""The HetRec 2011 Last.fm 2K reader: users' artist play counts, artist tags and friendships."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from timbre.errors import DataError
from timbre.records import ImportBatch, ImportReport, link_key
from timbre.sources.textio import decode_text, read_bytes, read_csv_text

HETREC_DATASET = "hetrec-lastfm-2k"
#: The files of the data set and the columns each must have.
_HETREC_FILES = {
    "user_artists": ("userID", "artistID", "weight"),
    "artists": ("id", "name"),
    "tags": ("tagID", "tagValue"),
    "user_taggedartists": ("userID", "artistID", "tagID"),
    "user_friends": ("userID", "friendID"),
}


def read_hetrec(folder: Path) -> ImportBatch:
    """Read the HetRec 2011 Last.fm 2K folder (``.dat`` or ``.dat.gz`` files).

    Artists listened to but missing from ``artists.dat`` are kept with a placeholder name and
    counted as a warning; tags of unknown artists or unknown tag ids are dropped and counted.

    Parameters
    ----------
    folder
        The folder holding ``user_artists.dat`` and ``artists.dat`` (tags and friends are
        read when present).

    Returns
    -------
    ImportBatch
        Users, artists, play counts (no times), artist tags (weighted by how many users gave
        them, and each user's assignment with its day) and friendships.

    Raises
    ------
    DataError
        Not a folder, a missing required file or column, or no usable play counts.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder (HetRec is a folder of .dat files)")
    report = ImportReport(source="hetrec", dataset=HETREC_DATASET)
    plays = _plays(folder, report)
    names = _artist_names(folder, report)
    artist_ids = sorted(set(plays["artistID"].astype(int)) | set(names))
    user_ids = sorted(set(plays["userID"].astype(int)))
    assigned = _tag_assignments(folder, set(artist_ids), report)
    return ImportBatch(
        dataset=HETREC_DATASET,
        source="hetrec",
        report=report,
        items=_artist_items(artist_ids, names, report),
        users=pd.DataFrame(
            {
                "key": [f"hetrec:user:{u}" for u in user_ids],
                "name": [f"HetRec user {u}" for u in user_ids],
            }
        ),
        interactions=pd.DataFrame(
            {
                "user_key": _keys("user", plays["userID"]),
                "item_key": _keys("artist", plays["artistID"]),
                "event": "play",
                "weight": plays["weight"].astype(float).to_numpy(),
                "timestamp": pd.NaT,
            }
        ),
        tags=_tags(assigned),
        user_tags=_user_tags(assigned, set(user_ids), report),
        friends=_friends(folder, set(user_ids), report),
    )


def _keys(kind: str, ids: pd.Series) -> pd.Series:
    """``hetrec:<kind>:<id>`` of numeric ids."""
    return f"hetrec:{kind}:" + ids.astype(int).astype(str)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (
        f"{stem}.dat",
        f"{stem}.dat.gz",
        f"{stem}-timestamps.dat",
        f"{stem}-timestamps.dat.gz",
    ):
        if (folder / name).is_file():
            return folder / name
    return None


def _require(folder: Path, stem: str) -> Path:
    path = _find(folder, stem)
    if path is None:
        raise DataError(f"{folder} has no {stem}.dat (or .dat.gz): not a HetRec Last.fm folder")
    return path


def _table(path: Path, stem: str, report: ImportReport) -> pd.DataFrame:
    text = decode_text(read_bytes(path), path.name, None if stem == "tags" else report.warnings)
    frame = read_csv_text(text, path.name, sep="\t")
    missing = [c for c in _HETREC_FILES[stem] if c not in frame.columns]
    if missing:
        raise DataError(f"{path.name} lacks column(s) {', '.join(missing)}")
    return frame


def _numeric(
    frame: pd.DataFrame, columns: tuple[str, ...], report: ImportReport, what: str
) -> pd.DataFrame:
    """``frame`` with ``columns`` as numbers; rows where one is not a number dropped, counted."""
    values = {c: pd.to_numeric(frame[c], errors="coerce") for c in columns}
    ok = np.logical_and.reduce([v.notna().to_numpy() for v in values.values()])
    report.drop(f"{what}: non-numeric value", int((~ok).sum()))
    out = frame.loc[ok].copy()
    for c in columns:
        out[c] = values[c][ok]
    return out


def _plays(folder: Path, report: ImportReport) -> pd.DataFrame:
    """Play counts: non-numeric, negative and repeated user-artist rows dropped and counted."""
    plays = _table(_require(folder, "user_artists"), "user_artists", report)
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
    return plays


def _artist_names(folder: Path, report: ImportReport) -> dict[int, str]:
    artists = _table(_require(folder, "artists"), "artists", report)
    artists = _numeric(artists, ("id",), report, "artists").drop_duplicates("id")
    return dict(zip(artists["id"].astype(int), artists["name"].fillna("").astype(str), strict=True))


def _artist_items(
    artist_ids: list[int], names: dict[int, str], report: ImportReport
) -> pd.DataFrame:
    """Every artist listened to or named; a placeholder name (and no link) where none is known."""
    unnamed = [a for a in artist_ids if not names.get(a)]
    if unnamed:
        report.warnings.append(
            f"{len(unnamed)} artists have no name in artists.dat; kept with a placeholder name"
        )
    item_names = [names.get(a) or f"HetRec artist {a}" for a in artist_ids]
    return pd.DataFrame(
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


def _tag_assignments(folder: Path, artists: set[int], report: ImportReport) -> pd.DataFrame:
    """Each user's tags on artists: ``userID, artistID, tag, timestamp`` (the day it was given,
    UTC; NaT without the day columns), each (user, artist, tag) once."""
    tag_path = _find(folder, "user_taggedartists")
    names_path = _find(folder, "tags")
    if tag_path is None or names_path is None:
        return pd.DataFrame(columns=["userID", "artistID", "tag", "timestamp"])
    tag_names = _numeric(_table(names_path, "tags", report), ("tagID",), report, "tags")
    tag_value = dict(
        zip(
            tag_names["tagID"].astype(int),
            tag_names["tagValue"].fillna("").astype(str).str.strip().str.lower(),
            strict=True,
        )
    )
    assigned = _numeric(
        _table(tag_path, "user_taggedartists", report),
        ("userID", "artistID", "tagID"),
        report,
        "user_taggedartists",
    )
    known_artist = assigned["artistID"].astype(int).isin(artists)
    report.drop(
        "user_taggedartists: tag on an artist nobody listened to", int((~known_artist).sum())
    )
    assigned = assigned[known_artist]
    assigned = assigned.assign(tag=assigned["tagID"].astype(int).map(tag_value))
    known_tag = assigned["tag"].notna() & (assigned["tag"] != "")
    report.drop("user_taggedartists: unknown tag id", int((~known_tag).sum()))
    assigned = assigned[known_tag].drop_duplicates(["userID", "artistID", "tag"])
    return assigned.assign(
        userID=assigned["userID"].astype(int),
        artistID=assigned["artistID"].astype(int),
        timestamp=_tag_days(assigned),
    )[["userID", "artistID", "tag", "timestamp"]]


def _tag_days(assigned: pd.DataFrame) -> pd.Series:
    """The day each tag was given (UTC midnight), NaT where the date columns are missing."""
    if not {"day", "month", "year"} <= set(assigned.columns):
        return pd.Series(pd.NaT, index=assigned.index, dtype="datetime64[ns, UTC]")
    parts = assigned[["year", "month", "day"]].apply(pd.to_numeric, errors="coerce")
    return pd.to_datetime(parts, errors="coerce", utc=True)


def _tags(assigned: pd.DataFrame) -> pd.DataFrame:
    """Artist tags weighted by how many users gave them (each user's tag once)."""
    counts = assigned.groupby(["artistID", "tag"]).size().reset_index(name="weight")
    return pd.DataFrame(
        {
            "item_key": _keys("artist", counts["artistID"]),
            "kind": "tag",
            "tag": counts["tag"].astype(str),
            "weight": counts["weight"].astype(float),
        }
    )


def _user_tags(assigned: pd.DataFrame, users: set[int], report: ImportReport) -> pd.DataFrame:
    """The assignments of users who have listening data (others dropped and counted)."""
    known = assigned["userID"].isin(users)
    report.drop("user_taggedartists: tag by a user without play counts", int((~known).sum()))
    kept = assigned[known]
    return pd.DataFrame(
        {
            "user_key": _keys("user", kept["userID"]),
            "item_key": _keys("artist", kept["artistID"]),
            "tag": kept["tag"].astype(str).to_numpy(),
            "timestamp": kept["timestamp"].to_numpy(),
        }
    )


def _friends(folder: Path, users: set[int], report: ImportReport) -> pd.DataFrame:
    """Friendships between users of the listening data (others dropped and counted)."""
    path = _find(folder, "user_friends")
    if path is None:
        return pd.DataFrame(columns=["user_key", "friend_key"])
    pairs = _table(path, "user_friends", report)
    pairs = _numeric(pairs, ("userID", "friendID"), report, "user_friends")
    inside = pairs["userID"].astype(int).isin(users) & pairs["friendID"].astype(int).isin(users)
    report.drop("user_friends: friend outside the listening data", int((~inside).sum()))
    pairs = pairs[inside]
    return pd.DataFrame(
        {"user_key": _keys("user", pairs["userID"]), "friend_key": _keys("user", pairs["friendID"])}
    )
