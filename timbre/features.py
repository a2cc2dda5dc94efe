"""Item content vectors: standardised audio features and Last.fm tag / genre TF-IDF."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre.errors import ParameterError
from timbre.interactions import row_normalize
from timbre.records import AUDIO_FEATURES

#: Audio features that describe how a track sounds (key, mode, duration and popularity are left
#: out: they are not taste dimensions a listener hears as "similar").
CONTENT_AUDIO_FEATURES: tuple[str, ...] = tuple(
    f for f in AUDIO_FEATURES if f not in ("musical_key", "mode", "duration_ms")
)

ContentSpace = Literal["auto", "audio", "tags"]


@dataclass(frozen=True)
class ContentVectors:
    """One unit-length row per item (all-zero when nothing is known about the item).

    Attributes
    ----------
    matrix
        CSR float32, items x dimensions: the audio block (z-scored features) then the tag block
        (TF-IDF). In ``auto`` space an item with both gets ``sqrt(audio_weight)`` of its length
        from audio and the rest from tags.
    dimensions
        Names of the columns: ``audio:<feature>`` and ``tag:<tag>``.
    has_audio, has_tags
        Which items had audio features / at least one kept tag.
    """

    matrix: sp.csr_matrix
    dimensions: tuple[str, ...]
    has_audio: NDArray[np.bool_]
    has_tags: NDArray[np.bool_]

    @property
    def known(self) -> NDArray[np.bool_]:
        """Items with a non-zero vector."""
        return self.has_audio | self.has_tags


def audio_block(item_meta: pd.DataFrame) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Z-scored audio features (items x features) and which items have them all."""
    present = [c for c in CONTENT_AUDIO_FEATURES if c in item_meta.columns]
    if not present:
        return np.zeros((len(item_meta), 0)), np.zeros(len(item_meta), dtype=bool)
    values = item_meta[present].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    has = ~np.isnan(values).any(axis=1)
    out = np.zeros_like(values)
    if has.any():
        known = values[has]
        std = known.std(axis=0)
        std[std == 0] = 1.0
        out[has] = (known - known.mean(axis=0)) / std
    return out, has


def _tokens(row_tags: object, row_genres: object) -> list[str]:
    tokens: set[str] = set()
    for values in (row_tags, row_genres):
        if isinstance(values, Iterable) and not isinstance(values, str | bytes):
            tokens.update(str(v).strip().lower() for v in values)
    tokens.discard("")
    return sorted(tokens)


def tag_block(
    item_meta: pd.DataFrame, min_items: int = 2, max_tags: int = 5000
) -> tuple[sp.csr_matrix, tuple[str, ...]]:
    """TF-IDF of each item's tags and genres (binary term counts, smoothed idf, unit rows).

    Tags used by fewer than ``min_items`` items are dropped (they cannot relate two items); of
    the rest, the ``max_tags`` most used are kept.
    """
    tags = item_meta["tags"] if "tags" in item_meta.columns else pd.Series([[]] * len(item_meta))
    genres = (
        item_meta["genres"] if "genres" in item_meta.columns else pd.Series([[]] * len(item_meta))
    )
    documents = [_tokens(t, g) for t, g in zip(tags, genres, strict=True)]
    counts = pd.Series([tok for doc in documents for tok in doc]).value_counts()
    counts = counts[counts >= min_items]
    vocabulary = sorted(counts.index[:max_tags]) if len(counts) else []
    if not vocabulary:
        return sp.csr_matrix((len(item_meta), 0), dtype=np.float32), ()
    position = {tag: j for j, tag in enumerate(vocabulary)}
    rows, cols = [], []
    for i, doc in enumerate(documents):
        for tok in doc:
            j = position.get(tok)
            if j is not None:
                rows.append(i)
                cols.append(j)
    binary = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float64), (rows, cols)),
        shape=(len(item_meta), len(vocabulary)),
    )
    n_docs = len(item_meta)
    document_frequency = np.diff(binary.tocsc().indptr)
    idf = np.log((1 + n_docs) / (1 + document_frequency)) + 1.0  # scikit-learn's smooth idf
    weighted = binary @ sp.diags(idf)
    return row_normalize(sp.csr_matrix(weighted)), tuple(f"tag:{t}" for t in vocabulary)


def content_vectors(
    item_meta: pd.DataFrame,
    space: ContentSpace = "auto",
    audio_weight: float = 0.5,
    min_tag_items: int = 2,
    max_tags: int = 5000,
) -> ContentVectors:
    """Content vectors for every item of a data set.

    Parameters
    ----------
    item_meta
        ``InteractionData.item_meta``: optional audio feature columns and ``tags`` / ``genres``
        lists.
    space
        ``audio``: audio features only; ``tags``: tags and genres only; ``auto``: both, each
        item using what it has (audio from the catalogue where matched, Last.fm tags otherwise).
    audio_weight
        In ``auto``, the share (0..1) of squared length given to audio for items with both.
    """
    if space not in ("auto", "audio", "tags"):
        raise ParameterError(f"space must be auto, audio or tags; got {space!r}")
    if not 0.0 <= audio_weight <= 1.0:
        raise ParameterError(f"audio_weight must be within 0..1, got {audio_weight}")
    n_items = len(item_meta)
    audio, has_audio = audio_block(item_meta)
    if space == "tags":
        audio, has_audio = np.zeros((n_items, 0)), np.zeros(n_items, dtype=bool)
    tags, tag_dims = tag_block(item_meta, min_tag_items, max_tags)
    if space == "audio":
        tags, tag_dims = sp.csr_matrix((n_items, 0)), ()
    has_tags = np.diff(tags.indptr) > 0
    audio_unit = np.zeros_like(audio)
    if audio.shape[1]:
        norms = np.linalg.norm(audio, axis=1)
        nonzero = norms > 0
        audio_unit[nonzero] = audio[nonzero] / norms[nonzero, None]
        has_audio = has_audio & nonzero
    both = has_audio & has_tags
    audio_scale = np.where(both, np.sqrt(audio_weight), 1.0)
    tag_scale = np.where(both, np.sqrt(1.0 - audio_weight), 1.0)
    matrix = sp.hstack(
        [sp.csr_matrix(audio_unit * audio_scale[:, None]), sp.diags(tag_scale) @ tags],
        format="csr",
        dtype=np.float32,
    )
    matrix.eliminate_zeros()
    dims = tuple(f"audio:{c}" for c in CONTENT_AUDIO_FEATURES if c in item_meta.columns)
    if space == "tags":
        dims = ()
    return ContentVectors(matrix, dims + tag_dims, has_audio, has_tags)
