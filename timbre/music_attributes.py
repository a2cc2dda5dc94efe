"""Music attributes of items (the personality prior's item side): from audio features, weighted
by the evidence behind them, and from the tag / genre lexicon.

An item's audio features carry the trust of how they were found (``item_meta["audio_trust"]``,
see :mod:`timbre.catalog_match`: a track's own features 1; an artist's catalogue match
``tracks / (tracks + 2)``, or 0 when its genres disagree with the artist's tags and it rests on
few tracks). The attributes are ``trust x audio + (1 - trust) x tags`` for an item with lexicon
tags, and ``trust x audio`` (shrunk toward neutral) for one without; audio evidence below
``THIN_BELOW`` (under three catalogue tracks) beside lexicon tags gives way to them. So an artist
matched through one track is described by its tags, or (untagged) by a third of its audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from timbre.catalog_match import THIN_BELOW
from timbre.errors import DataError

LEXICON_CSV = Path(__file__).resolve().parent / "resources" / "personality" / "tag_lexicon.csv"

#: Music attribute dimensions: Greenberg et al. (2016) and Rentfrow & Gosling's (2003) MUSIC-style
#: preference dimensions.
ATTRIBUTES: tuple[str, ...] = (
    "arousal",
    "valence",
    "depth",
    "reflective_complex",
    "intense_rebellious",
    "upbeat_conventional",
    "energetic_rhythmic",
)

#: How each attribute is composed from audio features: the mean of the signed z-scores of these
#: features (z over the items of the data set that have audio features). Proxies, documented:
#: arousal = intensity (energy, loudness, tempo, not acoustic); valence = Spotify's valence and
#: danceability; depth = instrumental, acoustic, not danceable, not spoken (Greenberg's depth is
#: "intellectual and emotional complexity": the closest audio correlates); the Rentfrow & Gosling
#: dimensions from their descriptions.
AUDIO_COMPOSITES: dict[str, dict[str, float]] = {
    "arousal": {"energy": 1, "loudness": 1, "tempo": 1, "acousticness": -1},
    "valence": {"valence": 1, "danceability": 1},
    "depth": {"instrumentalness": 1, "acousticness": 1, "danceability": -1, "speechiness": -1},
    "reflective_complex": {"acousticness": 1, "instrumentalness": 1, "energy": -1},
    "intense_rebellious": {"energy": 1, "loudness": 1, "valence": -1},
    "upbeat_conventional": {"valence": 1, "danceability": 1, "speechiness": -1},
    "energetic_rhythmic": {"danceability": 1, "speechiness": 1, "energy": 1},
}


@cache
def tag_lexicon() -> pd.DataFrame:
    """Tag / genre -> attribute direction (+1 / -1), ``resources/personality/tag_lexicon.csv``."""
    lexicon = pd.read_csv(LEXICON_CSV, dtype={"tag": str, "attribute": str, "direction": int})
    unknown = sorted(set(lexicon["attribute"]) - set(ATTRIBUTES))
    if unknown:
        raise DataError(f"{LEXICON_CSV.name}: unknown attributes {unknown}")
    return lexicon


@dataclass(frozen=True)
class ItemAttributes:
    """Music attributes of every item of a data set (0 = unknown/average).

    Attributes
    ----------
    values
        items x :data:`ATTRIBUTES`, float; an item with neither audio features nor a lexicon tag
        has zeros (a neutral prior score, never NaN).
    source
        Per item: ``audio``, ``audio+tags`` (both, weighted by the audio evidence), ``tags`` or
        ``none``.
    audio_share
        Per item, the weight (0..1) its audio attributes carry.
    evidence
        Per item, one line on what its attributes rest on (the "driven by" table shows it).
    """

    values: pd.DataFrame
    source: pd.Series
    audio_share: pd.Series
    evidence: pd.Series


def _zscore(frame: pd.DataFrame) -> pd.DataFrame:
    std = frame.std(ddof=0).replace(0.0, 1.0)
    return (frame - frame.mean()) / std


def audio_attributes(item_meta: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Attributes from audio features (z-scored composites) and which items have them."""
    n = len(item_meta)
    values = pd.DataFrame(0.0, index=range(n), columns=list(ATTRIBUTES))
    needed = sorted({f for parts in AUDIO_COMPOSITES.values() for f in parts})
    if not all(f in item_meta.columns for f in needed):
        return values, np.zeros(n, dtype=bool)
    audio = item_meta[needed].apply(pd.to_numeric, errors="coerce").reset_index(drop=True)
    has_audio = audio.notna().all(axis=1).to_numpy()
    if has_audio.any():
        z = _zscore(audio[has_audio])
        composite = pd.DataFrame(
            {
                attribute: sum(sign * z[f] for f, sign in parts.items()) / len(parts)
                for attribute, parts in AUDIO_COMPOSITES.items()
            }
        )
        values.loc[has_audio, list(ATTRIBUTES)] = _zscore(composite)[list(ATTRIBUTES)].values
    return values, has_audio


def tag_attributes(item_meta: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Attributes from the lexicon (mean direction of the item's lexicon tags and genres,
    z-scored over the items with any) and which items have them."""
    n = len(item_meta)
    values = pd.DataFrame(0.0, index=range(n), columns=list(ATTRIBUTES))
    votes: dict[str, list[tuple[str, int]]] = {}
    for tag, attribute, direction in tag_lexicon()[["tag", "attribute", "direction"]].to_numpy():
        votes.setdefault(str(tag), []).append((str(attribute), int(direction)))
    tags = item_meta["tags"] if "tags" in item_meta else pd.Series([[]] * n)
    genres = item_meta["genres"] if "genres" in item_meta else pd.Series([[]] * n)
    rows: dict[int, dict[str, float]] = {}
    for position, (item_tags, item_genres) in enumerate(zip(tags, genres, strict=True)):
        tokens = {
            str(t).strip().lower()
            for group in (item_tags, item_genres)
            if isinstance(group, list | tuple | np.ndarray)
            for t in group
        }
        sums: dict[str, list[int]] = {}
        for token in tokens & votes.keys():
            for attribute, direction in votes[token]:
                sums.setdefault(attribute, []).append(direction)
        if sums:
            rows[position] = {a: sum(v) / len(v) for a, v in sums.items()}
    has_tags = np.zeros(n, dtype=bool)
    if rows:
        frame = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=list(ATTRIBUTES))
        values.loc[frame.index, list(ATTRIBUTES)] = _zscore(frame.fillna(0.0)).values
        has_tags[frame.index.to_numpy()] = True
    return values, has_tags


def item_attributes(item_meta: pd.DataFrame) -> ItemAttributes:
    """Attributes from audio features weighted by their evidence, and from the lexicon."""
    n = len(item_meta)
    audio, has_audio = audio_attributes(item_meta)
    tags, has_tags = tag_attributes(item_meta)
    trust = (
        pd.to_numeric(item_meta["audio_trust"], errors="coerce").fillna(1.0).to_numpy(float)
        if "audio_trust" in item_meta
        else np.ones(n)
    )
    share = np.where(has_audio, np.clip(trust, 0.0, 1.0), 0.0)
    thin = has_tags & (share < THIN_BELOW) & (share > 0)
    share[thin] = 0.0  # tags preferred where audio evidence is thin
    tag_share = np.where(has_tags, 1.0 - share, 0.0)
    values = audio.mul(share, axis=0) + tags.mul(tag_share, axis=0)
    source = np.select(
        [share >= 1.0, (share > 0) & has_tags, share > 0, has_tags],
        ["audio", "audio+tags", "audio", "tags"],
        "none",
    )
    lines = (
        item_meta["audio_evidence"].fillna("").astype(str).to_numpy()
        if "audio_evidence" in item_meta
        else np.full(n, "")
    )
    evidence = [
        _evidence(
            float(a), bool(t), str(line) + ("; thin beside the tags: tags used" if th else "")
        )
        for a, t, line, th in zip(share, has_tags, lines, thin, strict=True)
    ]
    return ItemAttributes(
        values.fillna(0.0),
        pd.Series(source, dtype=object),
        pd.Series(share),
        pd.Series(evidence, dtype=object),
    )


def _evidence(share: float, tags: bool, line: str) -> str:
    """``audio 0.33 + tags 0.67 (1 catalogue track, ...)``."""
    parts = []
    if share > 0:
        parts.append(f"audio {share:.2f}")
    if tags and share < 1:
        parts.append(f"tags {1 - share:.2f}")
    head = " + ".join(parts) or "nothing known"
    return f"{head} ({line})" if line else head


def prior_contributions(
    attributes: ItemAttributes, weights: pd.Series, item: int, n: int = 2
) -> list[tuple[str, float]]:
    """The attributes that drove one item's prior score, largest absolute contribution first."""
    parts = attributes.values.iloc[int(item)] * weights
    order = parts.abs().sort_values(ascending=False).index[:n]
    return [(str(a), float(parts[a])) for a in order if parts[a] != 0]
