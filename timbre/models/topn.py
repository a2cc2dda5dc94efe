"""The best ``n`` items of score vectors, best first, ties to the lower index: what every
list and candidate pool is cut from."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from timbre.errors import ParameterError

__all__ = ["top_n", "top_n_rows"]


def top_n(
    scores: NDArray[np.floating],
    n: int,
    exclude: NDArray[np.integer] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The ``n`` best items of one score vector, best first; NaN and excluded items never appear.

    Ties are broken by the lower item index, so rankings are deterministic.
    """
    if n < 1:
        raise ParameterError(f"n must be at least 1, got {n}")
    values = np.array(scores, dtype=np.float64, copy=True)
    values[np.isnan(values)] = -np.inf
    if exclude is not None and len(exclude):
        values[np.asarray(exclude, dtype=np.int64)] = -np.inf
    candidates = np.flatnonzero(values > -np.inf)
    if len(candidates) > n:
        # argpartition may cut a tie at the boundary arbitrarily: keep everything >= the n-th.
        kth = np.partition(values[candidates], len(candidates) - n)[len(candidates) - n]
        candidates = candidates[values[candidates] >= kth]
    order = np.lexsort((candidates, -values[candidates]))[:n]
    chosen = candidates[order]
    return chosen.astype(np.int64), values[chosen].astype(np.float32)


def top_n_rows(
    scores: NDArray[np.floating], n: int
) -> list[tuple[NDArray[np.int64], NDArray[np.float32]]]:
    """:func:`top_n` of every row of a ``rows x items`` matrix.

    Gives exactly what ``top_n`` gives row by row: NaN never appears, ties go to the lower
    index, a row with fewer than ``n`` scored items gets them all. A threshold from a sample
    of each row's columns keeps a few times ``n`` candidates (all items at or above it, so
    every item of the top ``n`` and its ties); only those are sorted. Rows where the sample's
    threshold keeps fewer than ``n`` go through a full partition.
    """
    if n < 1:
        raise ParameterError(f"n must be at least 1, got {n}")
    values = np.asarray(scores)
    if np.isnan(values).any():
        values = np.where(np.isnan(values), -np.inf, values)
    rows, width = values.shape
    if width == 0:
        return [(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in range(rows)]
    k = min(n, width)
    out: list[tuple[NDArray[np.int64], NDArray[np.float32]]] = [None] * rows  # type: ignore[list-item]
    step = width // (8 * k)
    if step >= 2:  # a sample of width / step columns: its (2k / step)-th best as threshold
        sample = values[:, ::step]
        rank = max(1, -(-2 * k // step))
        threshold = np.partition(sample, sample.shape[1] - rank, axis=1)[:, sample.shape[1] - rank]
        threshold = np.maximum(threshold, np.nextafter(np.float32(-np.inf), np.float32(0)))
        above = values >= threshold[:, None]
        enough = above.sum(axis=1) >= k
        _top_of_candidates(values, above if enough.all() else above & enough[:, None], k, out)
        rest = np.flatnonzero(~enough)
    else:
        rest = np.arange(rows)
    if len(rest):
        part = values[rest]
        kth = np.partition(part, width - k, axis=1)[:, width - k]
        for position, row, threshold_value in zip(rest.tolist(), part, kth, strict=True):
            # everything >= the k-th best, so a tie at the boundary goes to the lower index
            candidates = np.flatnonzero((row >= threshold_value) & (row > -np.inf))
            order = np.lexsort((candidates, -row[candidates]))[:n]
            chosen = candidates[order]
            out[position] = (chosen.astype(np.int64), row[chosen].astype(np.float32))
    return out


def _top_of_candidates(
    values: NDArray[np.floating],
    candidates: NDArray[np.bool_],
    k: int,
    out: list[tuple[NDArray[np.int64], NDArray[np.float32]]],
) -> None:
    """The best ``k`` of each row's candidates (best first, ties to the lower index) into
    ``out`` for every row that has candidates."""
    row_of, column = np.nonzero(candidates)  # by row, then column (the lower index first)
    if len(row_of) == 0:
        return
    found = values[row_of, column]
    bounds = np.searchsorted(row_of, np.arange(values.shape[0] + 1))
    for row in np.flatnonzero(np.diff(bounds)).tolist():
        start, end = bounds[row], bounds[row + 1]
        best = np.argsort(-found[start:end], kind="stable")[:k]  # equal: the lower index
        out[row] = (
            column[start:end][best].astype(np.int64),
            found[start:end][best].astype(np.float32),
        )
