"""The "because you listened to" reasons of many lists at once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre.spaces import VectorSpace

#: Listeners with more listened items than this get their reasons one at a time (a batch pads
#: every listener to the longest history in it).
BATCH_HISTORY = 256
#: Listeners whose reasons are found in one product (of similar history lengths).
GROUP = 32


def because(
    space: VectorSpace, row: sp.csr_matrix, items: NDArray[np.int64], k: int = 3
) -> list[list[int]]:
    """Up to ``k`` listened items most similar to each item (co-listening neighbours, weighted
    by how much they were played)."""
    if row.nnz == 0 or len(items) == 0:
        return [[] for _ in items]
    listened = row.indices
    sims = space.gram(items, listened)
    strength = sims * np.log1p(row.data)[None, :]
    top = min(k, len(listened))
    # stable sort on -strength: ties keep the lower item index first (indices are sorted)
    order = np.argsort(-strength, axis=1, kind="stable")[:, :top]
    chosen = listened[order]
    keep = np.take_along_axis(strength, order, axis=1) > 0
    return [items[ok].tolist() for items, ok in zip(chosen, keep, strict=True)]


def because_rows(
    space: VectorSpace,
    rows: Sequence[sp.csr_matrix],
    lists: Sequence[NDArray[np.int64]],
    k: int = 3,
    as_lists: bool = True,
) -> list[tuple[list[list[int]], NDArray[np.int64]]]:
    """:func:`because` of many listeners at once (the same reasons), each also as a table
    (:func:`reason_table`): one batched product of the listed items with the listened ones,
    then the ``k`` strongest by repeated argmax (first of equals: the lower item index, as
    the stable sort). ``as_lists=False``: the tables only (the lists empty; the export)."""
    out: list[tuple[list[list[int]], NDArray[np.int64]]] = []
    batch = []
    sizes = [len(row.indices) for row in rows]
    dense = _dense_cosine(space)
    for r, (row, items) in enumerate(zip(rows, lists, strict=True)):
        if sizes[r] == 0 or len(items) == 0:
            found: list[list[int]] = [[] for _ in items]
            out.append((found, reason_table(found, k)))
        elif sizes[r] > BATCH_HISTORY or not dense:
            found = because(space, row, items, k)
            out.append((found, reason_table(found, k)))
        else:
            out.append(([], np.empty((0, 0), dtype=np.int64)))
            batch.append(r)
    # by history length, so each product pads a group to about its own longest history
    batch.sort(key=lambda r: sizes[r])
    for first in range(0, len(batch), GROUP):
        _reasons_of(space, rows, lists, sizes, batch[first : first + GROUP], k, as_lists, out)
    return out


def _reasons_of(
    space: VectorSpace,
    rows: Sequence[sp.csr_matrix],
    lists: Sequence[NDArray[np.int64]],
    sizes: Sequence[int],
    batch: Sequence[int],
    k: int,
    as_lists: bool,
    out: list[tuple[list[list[int]], NDArray[np.int64]]],
) -> None:
    """The reasons of the listeners ``batch`` (indices into ``rows``) into ``out``: one
    product of their listed items with their listened ones, padded to the longest."""
    count = len(batch)
    size = np.asarray([sizes[r] for r in batch], dtype=np.int64)
    lengths = np.asarray([len(lists[r]) for r in batch], dtype=np.int64)
    width, length = int(size.max()), int(lengths.max())
    # every listener's listened items (and their log plays) and listed items, padded
    member = np.repeat(np.arange(count), size)
    place = np.arange(len(member)) - np.repeat(np.cumsum(size) - size, size)
    listened = np.zeros((count, width), dtype=np.int64)
    weight = np.zeros((count, width), dtype=np.float32)
    valid = np.zeros((count, width), dtype=bool)
    listened[member, place] = np.concatenate([rows[r].indices for r in batch])
    weight[member, place] = np.log1p(np.concatenate([rows[r].data for r in batch]))
    valid[member, place] = True
    listed = np.zeros((count, length), dtype=np.int64)
    member = np.repeat(np.arange(count), lengths)
    place = np.arange(len(member)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    listed[member, place] = np.concatenate([lists[r] for r in batch])
    vectors = space.vectors
    # the listened vectors transposed into their own array: a faster product
    strength = np.matmul(
        vectors[listed], np.ascontiguousarray(vectors[listened].transpose(0, 2, 1))
    )
    strength *= weight[:, None, :]
    np.copyto(strength, np.float32(-np.inf), where=~valid[:, None, :])
    top = min(k, width)
    chosen = np.empty((count, length, top), dtype=np.int64)
    values = np.empty((count, length, top), dtype=np.float32)
    flat = strength.reshape(count * length, width)  # one row per (listener, listed item)
    every = np.arange(count * length)
    for step in range(top):
        best = np.argmax(flat, axis=1)
        chosen[:, :, step] = best.reshape(count, length)
        values[:, :, step] = flat[every, best].reshape(count, length)
        flat[every, best] = -np.inf
    items_of = np.take_along_axis(listened[:, None, :], chosen, axis=2)
    keep = values > 0
    tables = np.where(keep, items_of, -1)
    for b, r in enumerate(batch):
        listed_count, depth = int(lengths[b]), min(k, sizes[r])
        table = tables[b, :listed_count, :depth]
        if not as_lists:
            out[r] = ([], table)
            continue
        ids, ok = items_of[b, :listed_count, :depth], keep[b, :listed_count, :depth]
        found = ids.tolist()  # one conversion for the whole list
        for i in np.flatnonzero(~ok.all(axis=1)).tolist():
            found[i] = ids[i][ok[i]].tolist()
        out[r] = (found, table)


def reason_table(because: Sequence[Sequence[int]], k: int) -> NDArray[np.int64]:
    """Reasons as a ``len(because) x k`` array, -1 where an item has fewer (the export)."""
    table = np.full((len(because), k), -1, dtype=np.int64)
    for i, found in enumerate(because):
        table[i, : len(found)] = found[:k]
    return table


def _dense_cosine(space: VectorSpace) -> bool:
    return isinstance(space.vectors, np.ndarray) and space.measure == "cosine"
