"""Ranking and beyond-accuracy metrics on hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from timbre.errors import TimbreWarning
from timbre.evaluation import (
    average_popularity,
    coverage,
    intra_list_diversity,
    novelty,
    ranking_metrics,
)
from timbre.spaces import VectorSpace


def _test_matrix(rows: list[list[int]], n_items: int = 10) -> sp.csr_matrix:
    data = np.zeros((len(rows), n_items))
    for user, items in enumerate(rows):
        data[user, items] = 1
    return sp.csr_matrix(data)


def test_perfect_ranking_scores_one() -> None:
    test = _test_matrix([[1, 2, 3]])
    frame = ranking_metrics(np.array([[3, 1, 2]]), test, np.array([0]), k=3)
    assert frame.loc[0].to_dict() == {
        "ndcg": 1.0,
        "precision": 1.0,
        "recall": 1.0,
        "map": 1.0,
        "hit_rate": 1.0,
        "test_items": 3,
    }


def test_no_hits_scores_zero() -> None:
    frame = ranking_metrics(np.array([[5, 6]]), _test_matrix([[1, 2]]), np.array([0]), k=2)
    assert frame[["ndcg", "precision", "recall", "map", "hit_rate"]].sum(axis=1).item() == 0.0


def test_fewer_test_items_than_k() -> None:
    # 2 relevant items, K = 5, found at ranks 1 and 3
    frame = ranking_metrics(np.array([[4, 9, 7, 0, 1]]), _test_matrix([[4, 7]]), np.array([0]), 5)
    row = frame.loc[0]
    assert row["precision"] == pytest.approx(2 / 5)
    assert row["recall"] == pytest.approx(1.0)
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)  # over min(K, |test|) = 2 positions
    assert row["ndcg"] == pytest.approx(dcg / idcg)
    assert row["map"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert row["hit_rate"] == 1.0


def test_more_test_items_than_k_caps_idcg_and_map_at_k() -> None:
    frame = ranking_metrics(np.array([[1, 2]]), _test_matrix([[1, 2, 3, 4]]), np.array([0]), k=2)
    row = frame.loc[0]
    assert row["ndcg"] == pytest.approx(1.0)
    assert row["map"] == pytest.approx(1.0)
    assert row["recall"] == pytest.approx(0.5)


def test_short_lists_are_padded_and_padding_never_hits() -> None:
    frame = ranking_metrics(np.array([[3, -1, -1]]), _test_matrix([[3, 0]]), np.array([0]), k=3)
    assert frame.loc[0, "precision"] == pytest.approx(1 / 3)


def test_users_with_an_empty_test_set_warn_and_are_excluded() -> None:
    test = _test_matrix([[1], [], [2]])
    recs = np.array([[1, 0], [1, 0], [0, 1]])
    with pytest.warns(TimbreWarning, match="1 user"):
        frame = ranking_metrics(recs, test, np.array([0, 1, 2]), k=2)
    assert frame.index.tolist() == [0, 2]
    assert frame["hit_rate"].tolist() == [1.0, 0.0]


def test_coverage_novelty_and_average_popularity() -> None:
    recs = np.array([[0, 1], [0, 2]])
    popularity = np.array([8.0, 2.0, 0.0, 4.0])
    assert coverage(recs, 4) == pytest.approx(3 / 4)
    # -log2 of the share of 8 users; the unplayed item counts as one user
    expected = np.mean([-math.log2(8 / 8), -math.log2(2 / 8), -math.log2(8 / 8), -math.log2(1 / 8)])
    assert novelty(recs, popularity, n_users=8) == pytest.approx(expected)
    assert average_popularity(recs, popularity) == pytest.approx(np.mean([5.0, 4.0]))


def test_intra_list_diversity_is_one_minus_mean_pairwise_cosine() -> None:
    vectors = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    space = VectorSpace("items", "binary", "cosine", vectors, np.ones(3))
    assert intra_list_diversity(np.array([[0, 1]]), space) == pytest.approx(0.0)
    assert intra_list_diversity(np.array([[0, 2]]), space) == pytest.approx(1.0)
    assert intra_list_diversity(np.array([[0, 1, 2]]), space) == pytest.approx(1 - 1 / 3)


def test_intra_list_diversity_can_pass_one_in_a_space_with_negative_cosines() -> None:
    """Documented range: [0, 1] in non-negative spaces, up to 2 where cosines go negative."""
    vectors = np.array([[1.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    svd = VectorSpace("items", "svd", "cosine", vectors, np.ones(2))
    assert not svd.nonnegative
    assert intra_list_diversity(np.array([[0, 1]]), svd) == pytest.approx(2.0)


def test_fast_ild_of_a_cosine_space_equals_the_pairwise_mean() -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(50, 8))
    raw[[3, 17]] = 0.0  # items without a vector: similarity 0 to everything
    unit = (raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    space = VectorSpace("items", "svd", "cosine", unit, np.ones(50))
    lists = np.stack([rng.choice(50, 10, replace=False) for _ in range(30)])
    lists[0, 5:] = -1  # a short list
    pairwise = []
    for row in lists:
        items = row[row >= 0]
        sims = space.similarity(items)
        n = len(items)
        pairwise.append(1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1)))
    assert intra_list_diversity(lists, space) == pytest.approx(np.mean(pairwise), abs=1e-6)


def test_ild_stays_in_its_documented_range() -> None:
    """Issue 17: Tune showed "Diversity 1.006" (ILD in the SVD space, where cosines go
    negative). The panels measure ILD in the binary space, whose range is [0, 1]; the SVD space
    is documented as [0, 2]."""
    import pandas as pd

    from timbre import spaces as sp_spaces
    from timbre.evaluation import ILD_SPACE
    from timbre.evaluation.metrics import ild_per_list
    from timbre.interactions import InteractionData, Vocabulary

    rng = np.random.default_rng(0)
    matrix = sp.csr_matrix((rng.random((60, 40)) < 0.15).astype(np.float32))
    meta = pd.DataFrame({"key": [f"i{i}" for i in range(40)], "name": "x", "kind": "artist"})
    meta["artist"] = None
    data = InteractionData(
        "toy", Vocabulary([f"u{u}" for u in range(60)], "user"), Vocabulary(meta["key"]), matrix,
        meta,
    )  # fmt: skip
    lists = np.array([rng.choice(40, size=10, replace=False) for _ in range(200)])
    binary = ild_per_list(lists, sp_spaces.build_space(data, "items", ILD_SPACE))
    assert ILD_SPACE == "binary" and binary.min() >= 0.0 and binary.max() <= 1.0
    svd = ild_per_list(lists, sp_spaces.build_space(data, "items", "svd"))
    assert svd.min() >= 0.0 and svd.max() <= 2.0
