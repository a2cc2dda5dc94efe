"""The import contract: what every source hands to the store (``ImportBatch``) and its report."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from timbre.errors import DataError

ItemKind = Literal["track", "artist", "album"]
Event = Literal["play", "top", "love", "skip"]
TagKind = Literal["tag", "genre", "subgenre"]

#: The 12 Spotify audio features kept for every catalogue track (and averaged for artists).
AUDIO_FEATURES: tuple[str, ...] = (
    "danceability",
    "energy",
    "musical_key",  # the Spotify "key" (pitch class), renamed so it never clashes with ids
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "duration_ms",
)

#: Column layout of each ``ImportBatch`` frame (the store relies on these names).
ITEM_COLUMNS = ("key", "kind", "name", "artist", "link_key")
USER_COLUMNS = ("key", "name")
INTERACTION_COLUMNS = ("user_key", "item_key", "event", "weight", "timestamp")
TAG_COLUMNS = ("item_key", "kind", "tag", "weight")
USER_TAG_COLUMNS = ("user_key", "item_key", "tag", "timestamp")
FEATURE_COLUMNS = ("item_key", *AUDIO_FEATURES, "popularity")
FRIEND_COLUMNS = ("user_key", "friend_key")

_FEAT = re.compile(r"\s*[\(\[]?\s*\b(feat\.?|ft\.?|featuring|with)\s+.*$", re.IGNORECASE)
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


#: How many tags an item keeps in its metadata (the strongest, by how many users gave them).
TOP_TAGS = 20

#: The longest text the store keeps, in characters, per kind of value. A row with a longer id or
#: name is dropped and counted (on every backend alike: SQLite would keep it, PostgreSQL refuse
#: the whole import); a longer data set name is refused.
MAX_CHARS: dict[str, int] = {
    "data set name": 200,
    "user id": 300,
    "user name": 300,
    "item id": 500,
    "item name": 500,
    "artist name": 500,
    "tag": 300,
}


def check_dataset_name(name: str, hint: str = "") -> str:
    """``name`` if it can name a data set: printable, not blank, at most 200 characters.

    Data set names end up in keys, file names, CSV comments and page titles, so a newline, a NUL,
    a tab or a direction override (anything ``str.isprintable`` refuses) is never accepted.

    Parameters
    ----------
    name
        The proposed name.
    hint
        What to do instead, appended to the message (e.g. "give one with --dataset NAME").

    Returns
    -------
    str
        ``name`` unchanged.

    Raises
    ------
    DataError
        A blank, unprintable or too long name (the message shows where, without echoing it all).

    Examples
    --------
    >>> check_dataset_name("lastfm-export")
    'lastfm-export'
    """
    limit = MAX_CHARS["data set name"]
    problem = None
    if not str(name).strip():
        problem = "is blank"
    elif len(name) > limit:
        problem = f"has {len(name):,} characters (at most {limit})"
    else:
        bad = next((ch for ch in name if not ch.isprintable()), None)
        if bad is not None:
            problem = f"holds the unprintable character U+{ord(bad):04X}"
    if problem is None:
        return name
    shown = repr(name[:40]) + ("..." if len(name) > 40 else "")
    raise DataError(f"data set name {shown} {problem}" + (f"; {hint}" if hint else ""))


def top_values(
    keys: pd.Series, values: pd.Series, weights: pd.Series, limit: int
) -> dict[Hashable, list[str]]:
    """Per key, up to ``limit`` values by descending weight (ties by value): an item's top tags.

    Examples
    --------
    >>> top_values(pd.Series([1, 1, 1, 2]), pd.Series(["b", "a", "c", "x"]),
    ...            pd.Series([2.0, 2.0, 5.0, 1.0]), 2)
    {1: ['c', 'a'], 2: ['x']}
    """
    frame = pd.DataFrame(
        {"k": keys.to_numpy(), "v": values.astype(str).to_numpy(), "w": weights.to_numpy(float)}
    )
    frame = frame.sort_values(["k", "w", "v"], ascending=[True, False, True], kind="stable")
    out: dict[Hashable, list[str]] = {}
    for key, value in zip(frame["k"].tolist(), frame["v"].tolist(), strict=True):
        bucket = out.setdefault(key, [])
        if len(bucket) < limit:
            bucket.append(value)
    return out


def name_key(text: str | None) -> str:
    """Normalise a name for matching across sources.

    Lower case, accents stripped, "feat." / "ft." / "featuring" / "(with ...)" credits removed,
    punctuation and runs of whitespace collapsed to single spaces.

    Examples
    --------
    >>> name_key("Beyoncé feat. JAY-Z")
    'beyonce'
    >>> name_key("  The   Beatles ")
    'the beatles'
    """
    if text is None or (isinstance(text, float) and text != text):
        return ""
    decomposed = unicodedata.normalize("NFKD", str(text))
    ascii_ish = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    without_feat = _FEAT.sub("", ascii_ish.casefold())
    return _NON_WORD.sub(" ", without_feat).strip()


def link_key(kind: ItemKind, name: str | None, artist: str | None = None) -> str:
    """The catalogue link key of an item: ``artist:<key>``, ``track:<artist key>|<title key>``.

    Albums link like tracks (``album:<artist key>|<album key>``). An empty name gives ``""``
    (never linked).
    """
    if kind == "artist":
        key = name_key(name)
        return f"artist:{key}" if key else ""
    title, who = name_key(name), name_key(artist)
    return f"{kind}:{who}|{title}" if title and who else ""


@dataclass
class ImportReport:
    """What an import read, kept and dropped (per reason), for the CLI, the app and the logs.

    ``catalog_matched`` / ``catalog_candidates`` count this batch's items whose link key was found
    in the catalogue; the store fills them in when it writes the batch, and with them, per table,
    the rows the write added (``written``: new rows), changed (``updated``) and found already
    stored as they were (``unchanged``), counted from the database's own answers to this write.
    """

    source: str
    dataset: str
    rows_read: int = 0
    accepted: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    skipped_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    catalog_candidates: int = 0
    catalog_matched: int = 0
    interactions_matched: int = 0
    written: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, count: int = 1) -> None:
        """Count ``count`` rows dropped for ``reason`` (zero counts are ignored)."""
        if count:
            self.dropped[reason] += int(count)

    @property
    def dropped_total(self) -> int:
        """All rows dropped, over every reason."""
        return sum(self.dropped.values())

    @property
    def match_rate(self) -> float | None:
        """Share of the batch's items linked to the catalogue, or ``None`` with nothing to link."""
        if not self.catalog_candidates:
            return None
        return self.catalog_matched / self.catalog_candidates

    def summary(self) -> str:
        """A few human-readable lines: read / accepted / dropped per reason / catalogue match."""
        lines = [
            f"{self.source} -> data set {self.dataset!r}: read {self.rows_read:,} rows, "
            f"accepted {self.accepted:,}, dropped {self.dropped_total:,}"
        ]
        lines += [f"  dropped {n:,}: {reason}" for reason, n in sorted(self.dropped.items())]
        lines += [f"  skipped file: {name}" for name in self.skipped_files]
        lines += [f"  warning: {text}" for text in self.warnings]
        if self.match_rate is not None:
            lines.append(
                f"  catalogue match: {self.catalog_matched:,} of {self.catalog_candidates:,} "
                f"items ({self.match_rate:.1%})"
            )
        tables = sorted({*self.written, *self.updated, *self.unchanged})
        for table in tables:
            lines.append(
                f"  {table}: {self.written.get(table, 0):,} new, "
                f"{self.updated.get(table, 0):,} updated, "
                f"{self.unchanged.get(table, 0):,} unchanged"
            )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view (CLI ``--json``, the app's report table)."""
        return {
            "source": self.source,
            "dataset": self.dataset,
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "dropped": dict(sorted(self.dropped.items())),
            "dropped_total": self.dropped_total,
            "skipped_files": list(self.skipped_files),
            "warnings": list(self.warnings),
            "catalog_candidates": self.catalog_candidates,
            "catalog_matched": self.catalog_matched,
            "catalog_match_rate": self.match_rate,
            "written": dict(self.written),
            "updated": dict(self.updated),
            "unchanged": dict(self.unchanged),
        }


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


@dataclass
class ImportBatch:
    """One parsed import, ready for ``store.write_batch`` (which writes it in one transaction).

    Every frame uses the column names in the ``*_COLUMNS`` constants above; keys are the external
    string ids (``hetrec:artist:289``, ``spotify:track:<id>``, ``lastfm:rj``).

    Attributes
    ----------
    dataset
        The data set the interactions belong to (``hetrec-lastfm-2k``, ``spotify-playlists``,
        ``lastfm-export``, ...). Interaction data sets are what models train on.
    source
        Which importer produced the batch (``hetrec``, ``catalog``, ``csv``, ``spotify-export``,
        ``lastfm-export``, ``lastfm``, ``spotify``).
    items
        ``key, kind, name, artist, link_key``: one row per item.
    users
        ``key, name``, and optionally ``tracked``: true for accounts fetched from a live source
        or added to be (a name read from a file stays untracked).
    interactions
        ``user_key, item_key, event, weight, timestamp``; ``timestamp`` is a UTC ``Timestamp`` or
        ``NaT`` (aggregated counts). The natural key is (dataset, user, item, event, timestamp).
    tags
        ``item_key, kind, tag, weight`` (Last.fm tags, catalogue genres and sub-genres).
    user_tags
        ``user_key, item_key, tag, timestamp``: who gave an item which tag, and when (HetRec's
        ``user_taggedartists``), so an experiment can leave out the tags of held-out pairs.
    features
        ``item_key`` + the 12 audio features + ``popularity``.
    friends
        ``user_key, friend_key`` (directed pairs as the source gives them).
    is_catalog
        True for the catalogue itself: its items are the targets other items link to.
    play_precision_s
        ``None``: a timed interaction is the same as a stored one only at the very same time.
        Otherwise the batch's timed plays are scrobbles whose times are exact to this many
        seconds (1, or 60 for exports that give only the minute): a stored play of the same user
        and item within the coarser of the two precisions is the same play (see
        ``timbre.store.scrobbles``), so exports of one history in different layouts meet.
    """

    dataset: str
    source: str
    report: ImportReport
    items: pd.DataFrame = field(default_factory=lambda: _empty(ITEM_COLUMNS))
    users: pd.DataFrame = field(default_factory=lambda: _empty(USER_COLUMNS))
    interactions: pd.DataFrame = field(default_factory=lambda: _empty(INTERACTION_COLUMNS))
    tags: pd.DataFrame = field(default_factory=lambda: _empty(TAG_COLUMNS))
    user_tags: pd.DataFrame = field(default_factory=lambda: _empty(USER_TAG_COLUMNS))
    features: pd.DataFrame = field(default_factory=lambda: _empty(FEATURE_COLUMNS))
    friends: pd.DataFrame = field(default_factory=lambda: _empty(FRIEND_COLUMNS))
    is_catalog: bool = False
    play_precision_s: int | None = None
