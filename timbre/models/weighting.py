"""Input weighting of the user x item matrix, applied before a model sees it."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight

from timbre.errors import ParameterError

#: How raw counts become the values a model trains on.
Weighting = Literal["none", "binary", "confidence", "log", "bm25"]
WEIGHTINGS: tuple[str, ...] = get_args(Weighting)


def weight_matrix(
    user_items: sp.csr_matrix,
    method: Weighting,
    alpha: float = 1.0,
    K1: float = 100.0,
    B: float = 0.8,
) -> sp.csr_matrix:
    """Weight a user x item matrix; returns a new CSR float32 matrix, same shape and pattern.

    Parameters
    ----------
    method
        ``none``: the values as they are; ``binary``: every interaction counts 1;
        ``confidence``: ``alpha * r`` (Hu, Koren & Volinsky's linear confidence);
        ``log``: ``alpha * log(1 + r)`` (their log scaling, for heavy-tailed play counts);
        ``bm25``: BM25 per item column (Okapi; ``K1`` saturates counts, ``B`` normalises by
        how much each user listens), as in implicit's ``bm25_weight``.

    Examples
    --------
    >>> m = sp.csr_matrix(np.array([[1.0, 0.0, 9.0]]))
    >>> weight_matrix(m, "log").toarray().astype(float).round(3).tolist()
    [[0.693, 0.0, 2.303]]
    """
    if method not in WEIGHTINGS:
        raise ParameterError(f"weighting must be one of {', '.join(WEIGHTINGS)}; got {method!r}")
    matrix = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
    if method == "binary":
        matrix.data[:] = 1.0
    elif method == "confidence":
        matrix.data *= np.float32(alpha)
    elif method == "log":
        matrix.data = (alpha * np.log1p(matrix.data)).astype(np.float32)
    elif method == "bm25":
        # bm25_weight weights the rows of its input: items must be rows, so transpose twice.
        matrix = sp.csr_matrix(bm25_weight(matrix.T, K1=K1, B=B).T, dtype=np.float32)
    return matrix
