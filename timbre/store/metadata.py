"""Item metadata of a data set: tags, genres, audio features (own or linked from the catalogue)."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import pandas as pd
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.engine import Connection

from timbre.catalog_match import artist_evidence, audio_trust, genre_agrees
from timbre.records import TOP_TAGS, top_values
from timbre.store.schema import FEATURE_COLUMNS, T_ITEM_FEATURES, T_ITEM_TAGS, T_ITEMS
from timbre.store.sql import select_frame

#: How many Last.fm tags and genres an item's metadata lists at most.
TOP_GENRES = 5


def catalog_frame(conn: Connection) -> pd.DataFrame:
    """Every catalogue track: ``link_key, artist_key, genre`` (one row per genre) + features."""
    items, feats, tags = T_ITEMS, T_ITEM_FEATURES, T_ITEM_TAGS
    genre = (
        sa.select(tags.c.item_id, tags.c.tag, tags.c.weight)
        .where(tags.c.kind == "genre")
        .subquery()
    )
    query = (
        sa.select(
            items.c.link_key,
            items.c.catalog_artist_key,
            genre.c.tag,
            *[feats.c[c] for c in FEATURE_COLUMNS],
        )
        .select_from(
            items.outerjoin(feats, feats.c.item_id == items.c.id).outerjoin(
                genre, genre.c.item_id == items.c.id
            )
        )
        .where(items.c.in_catalog.is_(True))
    )
    return select_frame(conn, query, ["link_key", "artist_key", "genre", *FEATURE_COLUMNS])


def item_metadata(
    meta: pd.DataFrame, tags: pd.DataFrame, own: pd.DataFrame, catalog: pd.DataFrame
) -> pd.DataFrame:
    """Items with tags, genres and audio features (own, else linked from the catalogue).

    Parameters
    ----------
    meta
        The items: ``id, key, kind, name, artist, link_key, in_catalog, catalog_match``.
    tags
        Their tags and genres: ``item_id, kind, tag, weight``.
    own
        Their own audio features: ``item_id`` + ``FEATURE_COLUMNS``.
    catalog
        The catalogue, as ``catalog_frame`` reads it.

    Returns
    -------
    pandas.DataFrame
        ``meta`` without ``id``, plus ``tags`` (the top 20 Last.fm tags by weight), ``genres`` (up
        to 5: own, else those of the matched catalogue track or artist), every feature column
        (own, else the matched track's, else the mean over the matched artist's tracks), by key,
        and the match's evidence: ``audio_trust`` (0..1, see :mod:`timbre.catalog_match`) and
        ``audio_evidence`` (one line). An artist match that does not earn trust (its genres
        disagree with the artist's tags and it rests on few tracks) links neither features nor
        genres.
    """
    out = meta.copy()
    out["tags"], out["genres"], trusted = _labels(out, tags, catalog)
    values = _features(out, own, catalog, trusted)
    for column in FEATURE_COLUMNS:
        out[column] = values[column].to_numpy()
    return out.drop(columns=["id"]).sort_values("key", ignore_index=True)


def _catalog_genres(catalog: pd.DataFrame, by: str) -> dict[Hashable, list[str]]:
    """The most frequent catalogue genres per ``by`` (``link_key`` or ``artist_key``)."""
    rows = catalog.dropna(subset=["genre"])
    per = rows.groupby([by, "genre"]).size().reset_index(name="n")
    return top_values(per[by], per["genre"], per["n"], TOP_GENRES)


def _matches(items: pd.DataFrame) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per item: whether it is an artist, and whether it matches the catalogue."""
    return (items["kind"] == "artist").to_numpy(), items["catalog_match"].astype(bool).to_numpy()


def _labels(
    out: pd.DataFrame, tags: pd.DataFrame, catalog: pd.DataFrame
) -> tuple[list[list[str]], list[list[str]], NDArray[np.bool_]]:
    """Each item's top tags, its genres (own, else those of a trusted catalogue match) and
    whether its match is trusted; fills ``out``'s ``audio_trust`` and ``audio_evidence``."""
    is_artist, matched = _matches(out)
    tag_rows = tags[tags["kind"] == "tag"]
    genre_own = tags[tags["kind"] == "genre"]
    tag_lists = top_values(tag_rows["item_id"], tag_rows["tag"], tag_rows["weight"], TOP_TAGS)
    own_genres = top_values(genre_own["item_id"], genre_own["tag"], genre_own["weight"], TOP_GENRES)
    track_genres = _catalog_genres(catalog, "link_key")
    artist_genres = _catalog_genres(catalog, "artist_key")
    tracks = catalog.drop_duplicates("link_key").groupby("artist_key").size().to_dict()
    tags_col: list[list[str]] = []
    genres_col: list[list[str]] = []
    trust = np.zeros(len(out))
    evidence: list[str] = []
    for ident, lk, artist_kind, hit in zip(
        out["id"], out["link_key"], is_artist, matched, strict=True
    ):
        item_tags = tag_lists.get(ident, [])
        tags_col.append(item_tags)
        line, share, linked = "", 1.0 if hit else 0.0, (track_genres.get(lk) if hit else None)
        if hit and artist_kind:
            linked, count = artist_genres.get(lk) or [], int(tracks.get(lk, 0))
            agrees = genre_agrees(linked, item_tags)
            share, line = audio_trust(count, agrees), artist_evidence(count, linked, agrees)
        elif hit:
            line = "catalogue track (artist and title match)"
        trust[len(evidence)] = share
        evidence.append(line)
        genres = own_genres.get(ident) or (linked if share > 0 else None)
        genres_col.append(list(genres or []))
    out["audio_trust"], out["audio_evidence"] = trust, evidence
    return tags_col, genres_col, trust > 0


def _features(
    out: pd.DataFrame, own: pd.DataFrame, catalog: pd.DataFrame, trusted: NDArray[np.bool_]
) -> pd.DataFrame:
    """Each item's features: its own, else its trusted catalogue track's or artist's mean."""
    is_artist, matched = _matches(out)
    matched = matched & trusted
    columns = list(FEATURE_COLUMNS)
    features = catalog.drop(columns=["genre"]).drop_duplicates()
    by_track = features.drop(columns=["artist_key"]).groupby("link_key").mean()
    by_artist = features.drop(columns=["link_key"]).groupby("artist_key").mean()
    linked = pd.DataFrame(np.nan, index=out.index, columns=columns)
    for mask, source in ((is_artist & matched, by_artist), (~is_artist & matched, by_track)):
        if mask.any():
            linked.loc[mask] = source.reindex(out.loc[mask, "link_key"])[columns].to_numpy()
    own_feats = own.set_index("item_id").reindex(out["id"])[columns]
    own_feats.index = out.index
    has_own = own_feats.notna().any(axis=1).to_numpy()
    if has_own.any():  # an item's own features are exact
        out.loc[has_own, "audio_trust"] = 1.0
        out.loc[has_own, "audio_evidence"] = "own audio features"
    return own_feats.astype(float).combine_first(linked.astype(float))
