"""The batched top-N gives exactly the single-row top-N: ties to the lower index, NaN never."""

from __future__ import annotations

import numpy as np
import pytest

from timbre.models.base import top_n, top_n_rows


@pytest.mark.parametrize("n", [1, 3, 7, 50])
def test_top_n_rows_equals_top_n_row_by_row(n: int) -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, size=(40, 30)).astype(np.float32)  # many ties
    scores[rng.random(scores.shape) < 0.2] = np.nan
    scores[5] = np.nan  # a row with nothing to rank
    scores[6, :28] = np.nan  # a row with fewer items than n
    batched = top_n_rows(scores, n)
    for row, (items, values) in zip(scores, batched, strict=True):
        if np.isnan(row).all():
            assert len(items) == 0
            continue
        expected_items, expected_values = top_n(row, n)
        assert items.tolist() == expected_items.tolist()
        assert values.tolist() == expected_values.tolist()


def test_top_n_rows_accepts_minus_infinity_as_not_allowed() -> None:
    scores = np.array([[1.0, -np.inf, 3.0, 2.0]], dtype=np.float32)
    assert top_n_rows(scores, 3)[0][0].tolist() == [2, 3, 0]
