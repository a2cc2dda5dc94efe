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
    every item of the top ``n`` and its ties); only those are sorted. A row the sample's
    threshold leaves with fewer than ``n`` tries a lower one from the same sample, then a full
    partition.
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
    rest = np.arange(rows)
    if step >= 2:  # a sample of width / step columns: its (2k / step)-th best as threshold
        sample = values[:, ::step]
        size = sample.shape[1]
        rank = max(1, -(-2 * k // step))
        lower = min(size, 4 * rank)  # the second try's rank
        lowest = np.nextafter(np.float32(-np.inf), np.float32(0))
        for position in (size - rank, size - lower):
            cut = np.partition(sample if len(rest) == rows else sample[rest], position, axis=1)
            threshold = np.maximum(cut[:, position], lowest)
            part = values if len(rest) == rows else values[rest]
            flat = np.flatnonzero(part >= threshold[:, None])
            counts = np.diff(np.searchsorted(flat, np.arange(len(rest) + 1) * width))
            if (counts < k).any():  # those rows try again: drop their candidates
                flat = flat[np.repeat(counts >= k, counts)]
            _top_of_candidates(part, flat, k, out, rest)
            rest = rest[counts < k]
            if not len(rest):
                break
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
    flat: NDArray[np.intp],
    k: int,
    out: list[tuple[NDArray[np.int64], NDArray[np.float32]]],
    rows_of: NDArray[np.int64],
) -> None:
    """The best ``k`` of each row's candidates (best first, ties to the lower index) into
    ``out[rows_of[row]]`` for every row of ``values`` with candidates (``flat``: their
    positions in the flattened rows, ascending)."""
    if len(flat) == 0:
        return
    rows, width = values.shape
    row_of, column = np.divmod(flat, width)
    found = values.reshape(-1)[flat] if values.flags.c_contiguous else values[row_of, column]
    bounds = np.searchsorted(row_of, np.arange(rows + 1))
    counts = np.diff(bounds)
    widest = int(counts.max())
    targets = rows_of.tolist()
    if found.dtype == np.float32 and width < 2**32 and rows * widest <= 4 * len(flat):
        best = _sorted_keys(found, column, row_of, bounds, rows, widest)[:, :k]
        chosen = (best & np.uint64(0xFFFFFFFF)).astype(np.int64)
        chosen[chosen >= width] = 0  # padding (read, never listed)
        scores = np.take_along_axis(values, chosen, axis=1).astype(np.float32)
        for row in np.flatnonzero(counts).tolist():
            size = min(int(counts[row]), k)
            out[targets[row]] = (chosen[row, :size], scores[row, :size])
        return
    # best first within each row, equal values by the lower index (the column order kept)
    order = np.lexsort((-found, row_of))
    for row in np.flatnonzero(counts).tolist():
        start, end = int(bounds[row]), int(bounds[row + 1])
        picked = order[start : min(end, start + k)]
        out[targets[row]] = (column[picked].astype(np.int64), found[picked].astype(np.float32))


def _sorted_keys(
    found: NDArray[np.float32],
    column: NDArray[np.int64],
    row_of: NDArray[np.int64],
    bounds: NDArray[np.int64],
    rows: int,
    widest: int,
) -> NDArray[np.uint64]:
    """Each row's candidates as one sorted ``rows x widest`` array of keys: the value
    descending in the high 32 bits (the float's bits made to order as integers, -0.0 as 0.0),
    the column in the low 32 (equal values: the lower index first); padding sorts last."""
    bits = (np.negative(found) + np.float32(0.0)).view(np.uint32)
    ordered = np.where(bits >> np.uint32(31), ~bits, bits | np.uint32(0x80000000))
    keys = (ordered.astype(np.uint64) << np.uint64(32)) | column.astype(np.uint64)
    table = np.full((rows, widest), np.iinfo(np.uint64).max, dtype=np.uint64)
    table[row_of, np.arange(len(found)) - bounds[row_of]] = keys
    table.sort(axis=1)
    return table
