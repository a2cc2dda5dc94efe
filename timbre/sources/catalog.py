"""The track catalogue with audio features and genres (the bundled Spotify songs CSV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from timbre.errors import DataError
from timbre.records import (
    AUDIO_FEATURES,
    FEATURE_COLUMNS,
    ImportBatch,
    ImportReport,
    link_key,
)
from timbre.sources.textio import decode_text, read_bytes, read_csv_text

CATALOG_DATASET = "spotify-catalog"
PLAYLISTS_DATASET = "spotify-playlists"
#: CSV column -> audio feature name (the CSV's ``key`` is the pitch class).
FEATURE_SOURCE = {name: ("key" if name == "musical_key" else name) for name in AUDIO_FEATURES}
REQUIRED = (
    "track_id",
    "track_name",
    "track_artist",
    "track_popularity",
    "playlist_id",
    "playlist_name",
    "playlist_genre",
    "playlist_subgenre",
    *FEATURE_SOURCE.values(),
)


def _read_frame(path: Path, report: ImportReport) -> pd.DataFrame:
    frame = read_csv_text(decode_text(read_bytes(path), path.name, report.warnings), path.name)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path.name} is not the Spotify catalogue CSV: missing columns {', '.join(missing)}"
        )
    report.rows_read = len(frame)
    ok = frame["track_id"].notna()
    report.drop("missing track id", int((~ok).sum()))
    frame = frame[ok]
    # the CSV was written by R: a missing name is the literal "NA" in both name and artist
    unnamed = (frame["track_name"] == "NA") & (frame["track_artist"] == "NA")
    frame.loc[unnamed, ["track_name", "track_artist"]] = None
    named = frame["track_name"].notna() & frame["track_artist"].notna()
    report.drop("missing track name or artist", int((~named).sum()))
    frame = frame[named].copy()
    for column in (*FEATURE_SOURCE.values(), "track_popularity"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    if frame.empty:
        raise DataError(f"{path.name} has no usable catalogue rows")
    return frame


def _track_items(frame: pd.DataFrame) -> pd.DataFrame:
    tracks = frame.drop_duplicates("track_id")
    return pd.DataFrame(
        {
            "key": "spotify:track:" + tracks["track_id"].astype(str),
            "kind": "track",
            "name": tracks["track_name"].astype(str).to_numpy(),
            "artist": tracks["track_artist"].astype(str).to_numpy(),
            "link_key": [
                link_key("track", n, a)
                for n, a in zip(tracks["track_name"], tracks["track_artist"], strict=True)
            ],
        }
    )


def read_catalog(path: Path) -> ImportBatch:
    """Read the catalogue: one track item per ``track_id`` with features, genres, sub-genres.

    A track listed in several playlists appears once; its extra rows are counted as
    "same track in another playlist". Genre and sub-genre tags weigh the number of playlists.
    """
    report = ImportReport(source="catalog", dataset=CATALOG_DATASET)
    frame = _read_frame(Path(path), report)
    items = _track_items(frame)
    report.drop("same track in another playlist", len(frame) - len(items))
    report.accepted = len(items)
    tracks = frame.drop_duplicates("track_id")
    features = pd.DataFrame({"item_key": "spotify:track:" + tracks["track_id"].astype(str)})
    for name, source in FEATURE_SOURCE.items():
        features[name] = tracks[source].to_numpy(dtype=float)
    features["popularity"] = tracks["track_popularity"].to_numpy(dtype=float)
    tag_parts = []
    for kind, column in (("genre", "playlist_genre"), ("subgenre", "playlist_subgenre")):
        counts = (
            frame.dropna(subset=[column])
            .groupby(["track_id", column])
            .size()
            .reset_index(name="weight")
        )
        tag_parts.append(
            pd.DataFrame(
                {
                    "item_key": "spotify:track:" + counts["track_id"].astype(str),
                    "kind": kind,
                    "tag": counts[column].astype(str).str.strip().str.lower(),
                    "weight": counts["weight"].astype(float),
                }
            )
        )
    tags = pd.concat(tag_parts, ignore_index=True)
    return ImportBatch(
        dataset=CATALOG_DATASET,
        source="catalog",
        report=report,
        items=items,
        features=features[list(FEATURE_COLUMNS)],
        tags=tags,
        is_catalog=True,
    )


def read_catalog_playlists(path: Path) -> ImportBatch:
    """The catalogue's playlist x track pairs as a data set: playlists are the listeners."""
    report = ImportReport(source="catalog", dataset=PLAYLISTS_DATASET)
    frame = _read_frame(Path(path), report)
    pairs = frame.drop_duplicates(["playlist_id", "track_id"])
    report.drop("duplicate playlist-track pair", len(frame) - len(pairs))
    report.accepted = len(pairs)
    playlists = pairs.drop_duplicates("playlist_id")
    users = pd.DataFrame(
        {
            "key": "spotify:playlist:" + playlists["playlist_id"].astype(str),
            "name": playlists["playlist_name"]
            .fillna(playlists["playlist_id"])
            .astype(str)
            .to_numpy(),
        }
    )
    interactions = pd.DataFrame(
        {
            "user_key": "spotify:playlist:" + pairs["playlist_id"].astype(str),
            "item_key": "spotify:track:" + pairs["track_id"].astype(str),
            "event": "play",
            "weight": np.ones(len(pairs)),
            "timestamp": pd.NaT,
        }
    )
    return ImportBatch(
        dataset=PLAYLISTS_DATASET,
        source="catalog",
        report=report,
        items=_track_items(frame),
        users=users,
        interactions=interactions,
    )
