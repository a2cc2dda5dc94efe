"""Approximate nearest neighbours over item vectors (faiss IVF-Flat, largest inner product), for
catalogues where exact search stops being cheap.

Exact similar items cost one ``n_items x factors`` product a query: 1.1 ms at 20k items and
14 ms at 160k on this 2-core machine under load (``benchmarks/bench_scale.py --stages ann``
measures it with the ANN's recall). Above :data:`ANN_MIN_ITEMS` items the factor models'
similar items are drawn from an IVF index (``4 sqrt(n)`` lists, :data:`NPROBE` probed), then
scored exactly; below it, and for every other model, search stays exact.

The hybrid's candidate pool (:mod:`timbre.hybrid.pool`) uses a second index, a
:class:`RangedIndex` over the raw item factors and each item's novelty (largest inner product
``u . v + lam novelty``: what the CF and novelty components fuse to): a listener's
:data:`POOL_CF_CANDIDATES` best, plus their heard and barred items, come from it. Raw ALS
factors have very uneven norms (at 160k synthetic items: median 0.03, 99th percentile 0.27,
largest 25.5), which leaves one IVF over them with recall@300 0.71 at 32 probes (the largest
norm dominates every other item's extra column); by norm range it is 0.98.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray

#: Catalogue size from which similar items use the approximate index (exact below it): where
#: an exact query passes ~5 ms (measured in benchmarks/results/scale.json, stage ``ann``).
ANN_MIN_ITEMS = 50_000
#: Inverted lists probed a query (of ``4 sqrt(n)``): recall@50 >= 0.95 measured at 160k items.
NPROBE = 32
#: Candidates the index returns a query, re-scored exactly: this many times ``n`` (at least
#: :data:`MIN_CANDIDATES`).
CANDIDATE_FACTOR = 4
MIN_CANDIDATES = 200
#: CF candidates of the hybrid's pool a listener (beyond the items they may not get; at least
#: the pool's size), and the inverted lists each range of its index probes (of ``sqrt(n)``: at
#: 151k items, default weights, 200 listeners, recall@50 of the lists 0.979 with 32, 0.989
#: with 64, 0.995 with 96, at 3.5, 4.0 and 4.3 ms a listener; 600 candidates instead of 300
#: changed nothing but the time).
POOL_CF_CANDIDATES = 300
POOL_NPROBE = 64
#: Past this share of the catalogue, items whose ceiling reaches a listener's pool are not
#: scored one by one: that listener is ranked exactly.
POOL_EXTRA_SHARE = 0.25
#: Inverted lists of each range of the pool's index: ``sqrt(n)`` (with ``4 sqrt(n)`` lists
#: over the raw factors, recall@100 was 0.42 at 64 probes on the ``ann`` stage's catalogue).
POOL_LISTS_PER_SQRT = 1.0
#: The pool's index (:class:`RangedIndex`): this share of the items with the largest norms is
#: searched exactly, the rest in this many ranges of falling norm.
POOL_HEAD_SHARE = 0.05
POOL_RANGES = 3


class ItemIndex:
    """An inner-product index over ``vectors`` (one row an item): ``lists_per_sqrt x sqrt(n)``
    inverted lists, ``nprobe`` of them probed (default :data:`NPROBE`).

    Deterministic: k-means is seeded and runs on one thread.
    """

    def __init__(
        self,
        vectors: NDArray[np.floating],
        nprobe: int | None = None,
        seed: int = 0,
        lists_per_sqrt: float = 4.0,
    ) -> None:
        import faiss  # optional at import time: only catalogues past the threshold need it

        data, self._radius = _same_norm(np.asarray(vectors, dtype=np.float32))
        count, dims = data.shape
        lists = max(1, min(int(lists_per_sqrt * np.sqrt(count)), count // 39))
        faiss.omp_set_num_threads(1)
        quantizer = faiss.IndexFlatL2(dims)  # equal norms: nearest in L2 = largest product
        index = faiss.IndexIVFFlat(quantizer, dims, lists, faiss.METRIC_L2)
        index.cp.seed = seed
        sample = np.random.default_rng(seed).permutation(count)[: max(lists * 39, 1)]
        index.train(data[np.sort(sample)])
        index.add(data)
        index.nprobe = min(NPROBE if nprobe is None else nprobe, lists)
        self._quantizer = quantizer  # the index refers to it: keep it alive
        self._index = index
        self.size = count
        _, cells = quantizer.search(data, 1)
        centroids = quantizer.reconstruct_n(0, lists)
        #: Each row's inverted list, and its distance to that list's centroid (computed
        #: directly: faiss's expanded distances lose it to rounding when the norm is large):
        #: with the centroids, a bound of ``q . v`` for every row at once (:meth:`ceilings`).
        self.cell_of = cells[:, 0].astype(np.int64)
        gaps = data.astype(np.float64) - centroids[self.cell_of]
        self.residual = (np.sqrt(np.square(gaps).sum(axis=1)) * (1 + 1e-6)).astype(np.float32)
        self.centroids = np.ascontiguousarray(centroids[:, : dims - 1])

    def search(
        self, queries: NDArray[np.floating], k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """The ``k`` rows with the largest inner product with each query (``-1`` pads when
        fewer are found), best first."""
        plain = np.asarray(queries, dtype=np.float32)
        padded = np.hstack([plain, np.zeros((len(plain), 1), dtype=np.float32)])
        distances, ids = self._index.search(np.ascontiguousarray(padded), k)
        # |q - v|^2 = |q|^2 + M^2 - 2 q.v for every v of norm M
        sizes = np.square(plain, dtype=np.float64).sum(axis=1, keepdims=True)
        scores = (sizes + self._radius**2 - distances) / 2.0
        return ids.astype(np.int64), scores.astype(np.float32)

    def ceilings(self, query: NDArray[np.floating]) -> NDArray[np.float32]:
        """An upper bound of ``query . v`` for every row ``v``: its list's centroid's product
        plus ``|query|`` times its distance to that centroid (Cauchy-Schwarz on the residual;
        the extra column's query coordinate is 0)."""
        plain = np.asarray(query, dtype=np.float32)
        size = np.float32(np.linalg.norm(plain.astype(np.float64)))
        cells = self.centroids @ plain
        return np.asarray(cells[self.cell_of] + size * self.residual, dtype=np.float32)


class RangedIndex:
    """Largest inner product over rows of very different norms (a factor model's popular items
    have norms hundreds of times the median), by norm range (Yan et al. 2018): the
    :data:`POOL_HEAD_SHARE` largest norms searched exactly (faiss ``IndexFlatIP``), the rest in
    :data:`POOL_RANGES` ranges of falling norm, each its own :class:`ItemIndex` (``sqrt(n)``
    lists), so one huge norm does not flatten everyone else's geometry. A search asks every
    range for ``k`` and returns them all (up to ``ranges x k`` ids a query)."""

    def __init__(self, vectors: NDArray[np.floating], nprobe: int | None = None) -> None:
        import faiss

        data = np.ascontiguousarray(vectors, dtype=np.float32)
        order = np.argsort(-np.linalg.norm(data.astype(np.float64), axis=1), kind="stable")
        head = max(1, int(np.ceil(POOL_HEAD_SHARE * len(data))))
        cuts = np.linspace(head, len(data), POOL_RANGES + 1).astype(int)
        faiss.omp_set_num_threads(1)
        self.head = np.sort(order[:head])
        self._flat = faiss.IndexFlatIP(data.shape[1])
        self._flat.add(np.ascontiguousarray(data[self.head]))
        self._head_vectors = data[self.head]
        self.ranges: list[tuple[NDArray[np.int64], ItemIndex]] = []
        for start, end in itertools.pairwise(cuts.tolist()):
            if end > start:
                rows = np.sort(order[start:end])
                part = ItemIndex(data[rows], nprobe, lists_per_sqrt=POOL_LISTS_PER_SQRT)
                self.ranges.append((rows, part))
        self.size = len(data)
        #: Each row's range (0: the exact head).
        self.range_of = np.zeros(len(data), dtype=np.int64)
        for number, (rows, _) in enumerate(self.ranges, start=1):
            self.range_of[rows] = number

    def sizes(self) -> list[int]:
        """Rows in the head and in each range, in :meth:`search`'s order."""
        return [len(self.head), *(len(rows) for rows, _ in self.ranges)]

    def search(self, queries: NDArray[np.floating], k: int) -> NDArray[np.int64]:
        """Each range's ``k`` best rows for each query (``-1`` pads), ranges side by side in
        blocks of ``min(k, size)`` (:meth:`sizes`): a row no block holds scores at most its own
        range's last (as far as that range's search is exact)."""
        plain = np.ascontiguousarray(queries, dtype=np.float32)
        _, ids = self._flat.search(plain, min(k, len(self.head)))
        found = [np.where(ids >= 0, self.head[np.maximum(ids, 0)], -1)]
        for rows, index in self.ranges:
            got, _ = index.search(plain, min(k, len(rows)))
            found.append(np.where(got >= 0, rows[np.maximum(got, 0)], -1))
        return np.hstack(found).astype(np.int64)

    def ceilings(self, query: NDArray[np.floating]) -> NDArray[np.float32]:
        """An upper bound of ``query . v`` for every row: exact for the head, each range's
        :meth:`ItemIndex.ceilings` for the rest."""
        out = np.empty(self.size, dtype=np.float32)
        out[self.head] = self._head_vectors @ np.asarray(query, dtype=np.float32)
        for rows, index in self.ranges:
            out[rows] = index.ceilings(query)
        return out


def _same_norm(vectors: NDArray[np.float32]) -> tuple[NDArray[np.float32], float]:
    """Maximum inner product as nearest neighbours: one more column, ``sqrt(M^2 - |v|^2)``
    (``M`` the largest norm), gives every row the norm ``M`` without changing its inner
    product with a query padded with 0, so the largest product is the nearest in L2 and the
    inverted lists are plain k-means clusters (Bachrach et al. 2014). Returns them and ``M``."""
    norms = np.square(vectors, dtype=np.float64).sum(axis=1)
    top = float(norms.max(initial=0.0))
    extra = np.sqrt(np.maximum(top - norms, 0.0)).astype(np.float32)
    return np.ascontiguousarray(np.hstack([vectors, extra[:, None]])), float(np.sqrt(top))


def uses_ann(n_items: int) -> bool:
    """Whether a catalogue of ``n_items`` is searched approximately."""
    return n_items >= ANN_MIN_ITEMS


def candidates_for(n: int, n_items: int) -> int:
    """How many candidates the index returns for a list of ``n``."""
    return min(n_items, max(CANDIDATE_FACTOR * n, MIN_CANDIDATES))
