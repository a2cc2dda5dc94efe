"""What the filters know of the catalogue: the presenter-safe blocklist and item tags."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from timbre.interactions import InteractionData
from timbre.records import name_key

BLOCKLIST = Path(__file__).resolve().parents[1] / "resources" / "safety" / "blocklist.txt"


@cache
def blocklist() -> frozenset[str]:
    """The presenter-safe blocklist's words (``timbre/resources/safety/blocklist.txt``),
    normalised like names."""
    lines = BLOCKLIST.read_text(encoding="utf-8").splitlines()
    return frozenset(name_key(w) for w in lines if w.strip() and not w.startswith("#"))


def blocklisted(item_meta: pd.DataFrame) -> NDArray[np.bool_]:
    """Items whose name or artist holds a word of the presenter-safe blocklist (whole words,
    accents and case ignored)."""
    words = blocklist()
    artists = item_meta["artist"] if "artist" in item_meta else pd.Series("", index=item_meta.index)
    names = item_meta["name"].astype(str) + " " + artists.fillna("").astype(str)
    return np.array([bool(words & set(name_key(n).split())) for n in names], dtype=bool)


def item_tags(data: InteractionData) -> list[set[str]]:
    """Lower-cased tags and genres of every item (for the tag filters)."""
    empty: list[list[str]] = [[]] * data.n_items
    tags = data.item_meta.get("tags")
    genres = data.item_meta.get("genres")
    out = []
    for a, b in zip(
        empty if tags is None else tags, empty if genres is None else genres, strict=True
    ):
        groups = (g for g in (a, b) if isinstance(g, list | tuple | np.ndarray))
        out.append({str(t).lower() for group in groups for t in group})
    return out
