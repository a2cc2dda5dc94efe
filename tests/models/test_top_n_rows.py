"""``top_n_rows`` (the candidate pools of every list) equals ``top_n`` row by row, on the sampled
threshold path and on the full-partition one: ties to the lower index, NaN and -inf left out,
rows with fewer scored items than asked."""

from __future__ import annotations

import numpy as np
import pytest

from timbre.models.base import top_n, top_n_rows


def _matrix(seed: int, rows: int = 60, width: int = 3000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, width)).astype(np.float32)
    values[::3] = np.round(values[::3], 1)  # many ties, at the boundary too
    values[1, :] = 0.5  # one row all equal
    scored = min(40, width // 3)
    values[2, rng.choice(width, width - scored, replace=False)] = -np.inf  # fewer than n scored
    values[4, rng.choice(width, width // 2, replace=False)] = np.nan
    values[5, :] = -np.inf  # nothing allowed
    values[6, : width - min(150, width // 3)] = -1e30  # the best ones all at the end
    values[7] = np.sort(values[7])  # ascending
    return values


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n", [1, 7, 100, 250])
def test_every_row_equals_top_n(seed: int, n: int) -> None:
    values = _matrix(seed)
    for row, (items, scores) in zip(values, top_n_rows(values, n), strict=True):
        want_items, want_scores = top_n(row, n)
        assert np.array_equal(items, want_items)
        assert np.array_equal(scores, want_scores)
        assert items.dtype == np.int64 and scores.dtype == np.float32


def test_narrow_matrices_take_the_full_partition() -> None:
    values = _matrix(3, rows=10, width=30)
    for row, (items, _) in zip(values, top_n_rows(values, 10), strict=True):
        assert np.array_equal(items, top_n(row, 10)[0])
    with pytest.raises(ValueError, match="n must be at least 1"):
        top_n_rows(values, 0)


def _rows_equal_top_n(values: np.ndarray, n: int) -> None:
    for row, (items, scores) in zip(values, top_n_rows(values, n), strict=True):
        want_items, want_scores = top_n(row, n)
        assert np.array_equal(items, want_items)
        assert np.array_equal(scores, want_scores)
        assert items.dtype == np.int64 and scores.dtype == np.float32


@pytest.mark.parametrize("seed", [4, 5])
def test_skewed_rows_signed_zeros_and_infinities(seed: int) -> None:
    """Rows whose sampled threshold keeps too few candidates (a heavy tail: the second, lower
    threshold, then the full partition), -0.0 equal to 0.0 (ties to the lower index),
    +inf first; float32 (the sorted-key path) and float64 (the lexsort path)."""
    rng = np.random.default_rng(seed)
    values = (rng.random((80, 20_000), dtype=np.float32) ** 40).astype(np.float32)
    values[::4] = np.round(values[::4], 2)
    values[1, ::7] = -0.0
    values[1, 3::7] = 0.0
    values[2, rng.choice(20_000, 30, replace=False)] = np.inf
    values[3, :19_900] = -np.inf  # 100 scored, all at the end
    values[5, rng.choice(20_000, 5, replace=False)] = 1.0  # five stand out, the rest ~0
    for n in (1, 50, 100):
        _rows_equal_top_n(values, n)
        _rows_equal_top_n(values.astype(np.float64), n)
        _rows_equal_top_n(np.asfortranarray(values), n)
