"""Greedy maximal-marginal-relevance re-ranking (the diversity bonus) in a named space."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from timbre.spaces import VectorSpace


def mmr(
    pool: NDArray[np.int64],
    scores: NDArray[np.float32],
    space: VectorSpace,
    diversity: float,
    n: int,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Pick ``n`` items from ``pool`` (sorted best first) by maximal marginal relevance.

    Each step picks the item maximising ``score + diversity x (1 - max similarity to the items
    already picked)``, similarity measured in ``space``; with ``diversity`` 0 it returns the
    pool's order. Returns the picked items and each one's ``1 - max similarity`` at the time it
    was picked (1 for the first).

    Examples
    --------
    >>> from timbre.spaces import VectorSpace
    >>> vectors = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    >>> space = VectorSpace("items", "svd", "cosine", vectors, np.ones(3))
    >>> mmr(np.array([0, 1, 2]), np.array([1.0, 0.9, 0.8]), space, 0.5, 2)[0].tolist()
    [0, 2]
    """
    count = min(n, len(pool))
    if diversity == 0 or count <= 1:
        return pool[:count].astype(np.int64), np.ones(count, dtype=np.float32)
    sims = space.gram(pool)
    max_sim = np.zeros(len(pool), dtype=np.float32)
    available = np.ones(len(pool), dtype=bool)
    picked: list[int] = []
    bonuses: list[float] = []
    for step in range(count):
        bonus = 1.0 - max_sim if step else np.ones(len(pool), dtype=np.float32)
        value = np.where(available, scores + diversity * bonus, -np.inf)
        best = int(np.argmax(value))  # ties: the earlier (better-ranked) item
        picked.append(best)
        bonuses.append(float(bonus[best]))
        available[best] = False
        max_sim = np.maximum(max_sim, sims[best])
    return pool[picked].astype(np.int64), np.asarray(bonuses, dtype=np.float32)


def mmr_rows(
    pools: Sequence[tuple[NDArray[np.int64], NDArray[np.float32]]],
    space: VectorSpace | None,
    diversity: float,
    n: int,
) -> list[tuple[NDArray[np.int64], NDArray[np.float32]]]:
    """:func:`mmr` of many listeners' pools at once (one ``diversity``): the same picks, the
    greedy steps taken for every listener together (one array operation a step). ``space``
    may be ``None`` when ``diversity`` is 0 (the pools' order is kept)."""
    counts = [min(n, len(pool)) for pool, _ in pools]
    out: list[tuple[NDArray[np.int64], NDArray[np.float32]]] = [
        (pool[:c].astype(np.int64), np.ones(c, dtype=np.float32))
        for (pool, _), c in zip(pools, counts, strict=True)
    ]
    rows = [r for r, c in enumerate(counts) if diversity != 0 and c > 1]
    if not rows or space is None:
        return out
    if not isinstance(space.vectors, np.ndarray) or space.measure != "cosine":
        for r in rows:  # sparse or Jaccard spaces: one listener at a time
            out[r] = mmr(pools[r][0], pools[r][1], space, diversity, n)
        return out
    width = max(len(pools[r][0]) for r in rows)
    index = np.zeros((len(rows), width), dtype=np.int64)
    scores = np.full((len(rows), width), -np.inf, dtype=np.float32)
    available = np.zeros((len(rows), width), dtype=bool)
    for k, r in enumerate(rows):
        pool, values = pools[r]
        index[k, : len(pool)], scores[k, : len(pool)], available[k, : len(pool)] = pool, values, 1
    vectors = space.vectors[index]
    sims = np.matmul(vectors, vectors.transpose(0, 2, 1))
    steps = max(counts[r] for r in rows)
    every = np.arange(len(rows))
    max_sim = np.zeros((len(rows), width), dtype=np.float32)
    picked = np.zeros((len(rows), steps), dtype=np.int64)
    bonuses = np.zeros((len(rows), steps), dtype=np.float32)
    for step in range(steps):
        bonus = 1.0 - max_sim if step else np.ones((len(rows), width), dtype=np.float32)
        value = np.where(available, scores + diversity * bonus, -np.inf)
        best = np.argmax(value, axis=1)  # ties: the earlier (better-ranked) item
        picked[:, step] = best
        bonuses[:, step] = bonus[every, best]
        available[every, best] = False
        max_sim = np.maximum(max_sim, sims[every, best])
    for k, r in enumerate(rows):
        c = counts[r]
        out[r] = (index[k, picked[k, :c]], bonuses[k, :c].copy())
    return out
