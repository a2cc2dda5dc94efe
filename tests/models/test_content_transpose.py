"""The content model keeps its vectors' transpose as CSR: the same scores as the product with
``vectors_.T``, and a new one after a refit (never the transpose of the old vectors)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tests.models.conftest import checkerboard
from timbre.interactions import row_normalize
from timbre.models import create_model
from timbre.models.weighting import weight_matrix


def _by_transpose(model: object, rows: sp.csr_matrix) -> np.ndarray:
    vectors = model.vectors_  # type: ignore[attr-defined]
    profiles = row_normalize(weight_matrix(rows, model.weighting) @ vectors)  # type: ignore[attr-defined]
    scores = np.asarray((profiles @ vectors.T).toarray(), dtype=np.float32)
    scores[:, ~model.known_] = np.nan  # type: ignore[attr-defined]
    return scores


def test_scores_equal_the_product_with_the_transpose_bit_for_bit_and_follow_a_refit() -> None:
    first, second = checkerboard(40), checkerboard(30)
    model = create_model("content").fit(first)
    users = np.arange(first.n_users)
    np.testing.assert_array_equal(model.score(users), _by_transpose(model, first.user_items))
    model.fit(second)  # new vectors: the kept transpose must not be the old one
    fresh = create_model("content").fit(second)
    again = model.score(np.arange(second.n_users))
    np.testing.assert_array_equal(again, fresh.score(np.arange(second.n_users)))
    np.testing.assert_array_equal(again, _by_transpose(model, second.user_items))
