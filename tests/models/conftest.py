"""Shared data for the model tests: a checker-board with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from timbre.interactions import InteractionData, Vocabulary, build_matrix

N = 40  # users and items


def checkerboard(n: int = N) -> InteractionData:
    """User u plays every item of the same parity except item u itself (held out).

    So each user's only unplayed item of their own parity is item ``u``: a model that has learnt
    the two taste groups must recommend exactly item ``u`` first (precision@1 = 1). Items carry
    their parity as a tag, so the content model can learn it too. Play counts vary (1..3) so that
    weightings have something to do.
    """
    rows, cols, weights = [], [], []
    for u in range(n):
        for i in range(n):
            if i % 2 == u % 2 and i != u:
                rows.append(u)
                cols.append(i)
                weights.append(1 + (u + i) % 3)
    matrix = build_matrix(rows, cols, weights, (n, n))
    meta = pd.DataFrame(
        {
            "key": [f"i{i:02d}" for i in range(n)],
            "name": [f"Item {i}" for i in range(n)],
            "kind": "artist",
            "artist": None,
            "tags": [["even"] if i % 2 == 0 else ["odd"] for i in range(n)],
            "genres": [[] for _ in range(n)],
        }
    )
    return InteractionData(
        dataset="checkerboard",
        users=Vocabulary([f"u{u:02d}" for u in range(n)], "user"),
        items=Vocabulary(meta["key"], "item"),
        user_items=matrix,
        item_meta=meta,
    )


@pytest.fixture(scope="session")
def board() -> InteractionData:
    return checkerboard()


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
