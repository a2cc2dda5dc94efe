"""Neighbourhood models: item-kNN (implicit's cosine / BM25) and user-kNN (sparse, scipy)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
from numpy.typing import NDArray

from timbre.interactions import InteractionData, row_normalize
from timbre.models.base import Param, ProgressCallback, Recommender
from timbre.models.weighting import WEIGHTINGS, Weighting, weight_matrix


def _sparse_arrays(prefix: str, matrix: sp.csr_matrix) -> dict[str, NDArray[Any]]:
    return {
        f"{prefix}.data": matrix.data,
        f"{prefix}.indices": matrix.indices,
        f"{prefix}.indptr": matrix.indptr,
        f"{prefix}.shape": np.asarray(matrix.shape, dtype=np.int64),
    }


def _sparse_from(prefix: str, arrays: dict[str, NDArray[Any]]) -> sp.csr_matrix:
    shape = tuple(int(v) for v in arrays[f"{prefix}.shape"])
    return sp.csr_matrix(
        (arrays[f"{prefix}.data"], arrays[f"{prefix}.indices"], arrays[f"{prefix}.indptr"]),
        shape=shape,
    )


@dataclass(eq=False, kw_only=True)
class ItemKNN(Recommender):
    """Item kNN.

    Items are similar when the same people play them (cosine or BM25, top K neighbours kept).
    Scores any user from their row; explains by the neighbours they played.

    Item-based CF: a user's score for an item sums their weighted plays of its neighbours.
    """

    name: ClassVar[str] = "item-knn"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("K", "Neighbours kept per item.", low=1, search=(20, 50, 100, 200, 400)),
        Param(
            "similarity",
            "cosine, or bm25 (down-weights very heavy listeners).",
            choices=("cosine", "bm25"),
            search=("cosine", "bm25"),
        ),
        Param(
            "weighting",
            "How a user's play counts weigh their neighbours when scoring.",
            choices=WEIGHTINGS,
        ),
        Param("K1", "BM25 saturation (bm25 similarity only).", low=0.0),
        Param("B", "BM25 length normalisation (bm25 similarity only).", low=0.0, high=1.0),
    )

    K: int = 100
    similarity: Literal["cosine", "bm25"] = "cosine"
    weighting: Weighting = "log"
    K1: float = 1.2
    B: float = 0.75

    similarity_: sp.csr_matrix = field(init=False, repr=False)

    def _fit(self, data: InteractionData, progress: ProgressCallback) -> None:
        progress(0.1, "computing item-item similarities")
        knn: CosineRecommender | BM25Recommender
        if self.similarity == "bm25":
            knn = BM25Recommender(K=int(self.K), K1=float(self.K1), B=float(self.B))
        else:
            knn = CosineRecommender(K=int(self.K))
        with warnings.catch_warnings():
            # implicit's own normalize() hands its fit a COO matrix and then warns about it
            warnings.filterwarnings("ignore", "Method expects CSR input", Warning)
            knn.fit(weight_matrix(self.user_items_, self.weighting), show_progress=False)
        # similarity[j, i]: how much playing j recommends i (row j keeps j's K neighbours)
        self.similarity_ = sp.csr_matrix(knn.similarity, dtype=np.float32)

    def _score(self, user_rows: sp.csr_matrix, users: NDArray[np.int64]) -> NDArray[np.float32]:
        weighted = weight_matrix(user_rows, self.weighting)
        return np.asarray((weighted @ self.similarity_).toarray(), dtype=np.float32)

    def _item_similarity(self, item: int) -> NDArray[np.float32]:
        sims = np.full(self.n_items_, np.nan, dtype=np.float32)
        row = self.similarity_[item]
        sims[row.indices] = row.data
        return sims

    def _contributions(
        self, row: sp.csr_matrix, item: int
    ) -> tuple[NDArray[np.integer], NDArray[np.floating]]:
        # each listened item's weighted play times its similarity to ``item``
        row = weight_matrix(row, self.weighting)
        column = self.similarity_[:, item].toarray().ravel()
        return row.indices, row.data * column[row.indices]

    def _arrays(self) -> dict[str, NDArray[Any]]:
        return _sparse_arrays("similarity", self.similarity_)

    def _restore(self, arrays: dict[str, NDArray[Any]], meta: dict[str, Any]) -> None:
        self.similarity_ = _sparse_from("similarity", arrays)


@dataclass(eq=False, kw_only=True)
class UserKNN(Recommender):
    """User kNN.

    Finds the k listeners with the most similar taste (cosine between users) and scores items by
    their listening. Scores any user from their row.

    User-based CF: the k users with the most similar taste (cosine) vote for their items.
    """

    name: ClassVar[str] = "user-knn"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param("k", "Neighbouring users who vote.", low=1, search=(20, 50, 100, 200, 400)),
        Param("weighting", "How play counts are weighted before the cosine.", choices=WEIGHTINGS),
        Param(
            "shrinkage",
            "Exponent applied to similarities (1 = plain; >1 favours the closest neighbours).",
            low=0.0,
            search=(1.0, 1.5, 2.0),
        ),
    )

    k: int = 50
    weighting: Weighting = "log"
    shrinkage: float = 1.0

    normalized_: sp.csr_matrix = field(init=False, repr=False)

    def _fit(self, data: InteractionData, progress: ProgressCallback) -> None:
        progress(0.2, "normalising user profiles")
        self.normalized_ = row_normalize(weight_matrix(self.user_items_, self.weighting))

    def neighbours(self, user_rows: sp.csr_matrix, users: NDArray[np.int64]) -> sp.csr_matrix:
        """Similarity of each given user to their k nearest training users (self excluded)."""
        query = row_normalize(weight_matrix(user_rows, self.weighting))
        sims = np.asarray((query @ self.normalized_.T).toarray(), dtype=np.float32)
        known = np.flatnonzero(users >= 0)
        sims[known, users[known]] = 0.0
        k = min(int(self.k), sims.shape[1])
        if k < sims.shape[1]:
            cut = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            cut = np.tile(np.arange(sims.shape[1]), (sims.shape[0], 1))
        rows = np.repeat(np.arange(sims.shape[0]), cut.shape[1])
        values = np.take_along_axis(sims, cut, axis=1).ravel()
        if self.shrinkage != 1.0:
            values = np.power(np.clip(values, 0.0, None), float(self.shrinkage))
        keep = values > 0
        return sp.csr_matrix(
            (values[keep], (rows[keep], cut.ravel()[keep])), shape=sims.shape, dtype=np.float32
        )

    def _score(self, user_rows: sp.csr_matrix, users: NDArray[np.int64]) -> NDArray[np.float32]:
        votes = self.neighbours(user_rows, users) @ self.normalized_
        return np.asarray(votes.toarray(), dtype=np.float32)

    def _item_similarity(self, item: int) -> NDArray[np.float32]:
        # items are similar when the same (normalised) users play them: cosine of columns
        columns = self.normalized_.tocsc()
        target = columns[:, item]
        dots = np.asarray((columns.T @ target).toarray()).ravel()
        norms = np.sqrt(np.asarray(columns.multiply(columns).sum(axis=0)).ravel())
        with np.errstate(invalid="ignore", divide="ignore"):
            sims = dots / (norms * norms[item])
        return np.asarray(sims, dtype=np.float32)

    def _arrays(self) -> dict[str, NDArray[Any]]:
        return _sparse_arrays("normalized", self.normalized_)

    def _restore(self, arrays: dict[str, NDArray[Any]], meta: dict[str, Any]) -> None:
        self.normalized_ = _sparse_from("normalized", arrays)
