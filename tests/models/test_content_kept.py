"""What the content model keeps to score faster (its vectors' transpose as CSR; with
``keep_profiles``, every training user's profile): the same scores to the bit, and never
what it kept before a refit."""

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


def test_kept_profiles_give_the_same_scores_and_are_dropped_by_a_refit() -> None:
    first, second = checkerboard(40), checkerboard(30)
    model = create_model("content").fit(first)
    users = np.arange(first.n_users)
    plain = model.score(users)
    one_by_one = np.vstack([model.score([u]) for u in users])
    model.keep_profiles()
    np.testing.assert_array_equal(model.score(users), plain)
    np.testing.assert_array_equal(np.vstack([model.score([u]) for u in users]), one_by_one)
    np.testing.assert_array_equal(plain, one_by_one)
    new_rows, _ = model.score_rows(first.user_items[:3])  # rows of users it was not told of
    np.testing.assert_array_equal(new_rows, plain[:3])
    model.fit(second)  # other users and vectors: what was kept no longer applies
    fresh = create_model("content").fit(second)
    np.testing.assert_array_equal(
        model.score(np.arange(second.n_users)), fresh.score(np.arange(second.n_users))
    )
