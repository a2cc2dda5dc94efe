"""Input weighting and content vectors: hand-worked values and invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight

from timbre.features import content_vectors
from timbre.models.weighting import WEIGHTINGS, weight_matrix

COUNTS = sp.csr_matrix(np.array([[1.0, 0.0, 9.0], [0.0, 4.0, 1.0]], dtype=np.float32))


def test_weightings_by_hand() -> None:
    assert weight_matrix(COUNTS, "binary").toarray().tolist() == [[1, 0, 1], [0, 1, 1]]
    assert weight_matrix(COUNTS, "confidence", alpha=2).toarray().tolist() == [
        [2, 0, 18],
        [0, 8, 2],
    ]
    assert np.allclose(weight_matrix(COUNTS, "log").toarray(), np.log1p(COUNTS.toarray()))
    assert np.array_equal(weight_matrix(COUNTS, "none").toarray(), COUNTS.toarray())


def test_bm25_weights_item_columns_like_implicit() -> None:
    expected = bm25_weight(COUNTS.T, K1=1.2, B=0.75).T.toarray()
    assert np.allclose(weight_matrix(COUNTS, "bm25", K1=1.2, B=0.75).toarray(), expected)


@pytest.mark.parametrize("method", WEIGHTINGS)
def test_weighting_keeps_the_pattern_and_leaves_the_input_alone(method: str) -> None:
    before = COUNTS.copy()
    weighted = weight_matrix(COUNTS, method)
    assert weighted.dtype == np.float32 and weighted.shape == COUNTS.shape
    assert np.array_equal(weighted.indices, COUNTS.indices)
    assert np.array_equal(COUNTS.toarray(), before.toarray())


def test_unknown_weighting_is_named() -> None:
    with pytest.raises(ValueError, match=r"weighting must be one of .* got 'sqrt'"):
        weight_matrix(COUNTS, "sqrt")


def _meta() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "key": ["a", "b", "c", "d"],
            "tags": [["rock", "indie"], ["rock"], ["jazz"], []],
            "genres": [[], ["Rock"], [], []],
            "energy": [0.9, 0.8, np.nan, 0.1],
            "valence": [0.5, 0.4, np.nan, 0.9],
        }
    )


def test_content_vectors_are_unit_rows_from_what_each_item_has() -> None:
    vectors = content_vectors(_meta(), min_tag_items=1)
    norms = np.sqrt(np.asarray(vectors.matrix.multiply(vectors.matrix).sum(axis=1)).ravel())
    assert np.allclose(norms, 1.0)
    assert vectors.has_audio.tolist() == [True, True, False, True]
    assert vectors.has_tags.tolist() == [True, True, True, False]
    assert "tag:rock" in vectors.dimensions and "audio:energy" in vectors.dimensions
    # genres join tags, lower-cased: "Rock" is the same token as "rock"
    assert sum(d == "tag:rock" for d in vectors.dimensions) == 1


def test_content_space_choice_and_rare_tags() -> None:
    tags_only = content_vectors(_meta(), space="tags", min_tag_items=2)
    assert tags_only.dimensions == ("tag:rock",)  # indie and jazz are on one item each
    assert tags_only.known.tolist() == [True, True, False, False]
    audio_only = content_vectors(_meta(), space="audio")
    assert all(d.startswith("audio:") for d in audio_only.dimensions)
    assert audio_only.known.tolist() == [True, True, False, True]
    with pytest.raises(ValueError, match="space must be"):
        content_vectors(_meta(), space="lyrics")
