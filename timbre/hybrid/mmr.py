"""Greedy maximal-marginal-relevance re-ranking (the diversity bonus) in a named space."""

from __future__ import annotations

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
