"""Ranking and beyond-accuracy metrics with their standard definitions (one definition each)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre import spaces
from timbre.errors import ParameterError, TimbreWarning
from timbre.interactions import InteractionData
from timbre.spaces import SpaceName

#: Ranking metrics, per user.
RANKING_METRICS: tuple[str, ...] = ("ndcg", "precision", "recall", "map", "hit_rate")
#: Metrics of the whole set of lists.
LIST_METRICS: tuple[str, ...] = ("coverage", "diversity", "novelty", "arp")
#: Where intra-list diversity is measured unless told otherwise (the Tune panel too).
ILD_SPACE: SpaceName = "binary"


def ranking_metrics(
    recommended: NDArray[np.int64], test: sp.csr_matrix, users: NDArray[np.int64], k: int
) -> pd.DataFrame:
    """Per-user ranking metrics at ``k`` with the standard definitions.

    Parameters
    ----------
    recommended
        ``len(users) x k`` item indices, best first, ``-1`` where a list is shorter.
    test
        Held-out interactions (users x items); only their presence counts (binary relevance).
    users
        The user of each row of ``recommended``.

    Returns
    -------
    pandas.DataFrame
        One row per user with at least one test item, indexed by user: ``precision`` = hits / k,
        ``recall`` = hits / |test_u|, ``ndcg`` = DCG / IDCG with gains 1 and IDCG over
        min(k, |test_u|), ``map`` = sum of precision at each hit / min(k, |test_u|),
        ``hit_rate`` = 1 if any hit, and ``test_items`` = |test_u|. Users with an empty test set
        are left out (a ``TimbreWarning`` says how many).

    Examples
    --------
    >>> test = sp.csr_matrix(np.array([[1, 0, 1, 0]]))
    >>> frame = ranking_metrics(np.array([[2, 1]]), test, np.array([0]), k=2)
    >>> frame.round(4).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'ndcg': 0.6131, 'precision': 0.5, 'recall': 0.5, 'map': 0.5, 'hit_rate': 1.0,
      'test_items': 2}]
    """
    if k < 1:
        raise ParameterError(f"k must be at least 1, got {k}")
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    rows: list[dict[str, float]] = []
    index: list[int] = []
    empty = 0
    for position, user in enumerate(users):
        truth = test.indices[test.indptr[user] : test.indptr[user + 1]]
        if len(truth) == 0:
            empty += 1
            continue
        ranked = recommended[position, :k]
        hits = np.isin(ranked, truth) & (ranked >= 0)
        n_hits = int(hits.sum())
        ideal = min(k, len(truth))
        dcg = float(discounts[: len(ranked)][hits].sum())
        idcg = float(discounts[:ideal].sum())
        precision_at = np.cumsum(hits) / np.arange(1, len(ranked) + 1)
        rows.append(
            {
                "ndcg": dcg / idcg,
                "precision": n_hits / k,
                "recall": n_hits / len(truth),
                "map": float(precision_at[hits].sum()) / ideal,
                "hit_rate": float(n_hits > 0),
                "test_items": len(truth),
            }
        )
        index.append(int(user))
    if empty:
        warnings.warn(
            f"{empty} user(s) have no test items: left out of the metrics",
            TimbreWarning,
            stacklevel=2,
        )
    frame = pd.DataFrame(rows, index=pd.Index(index, name="user"))
    if frame.empty:
        frame = pd.DataFrame(columns=[*RANKING_METRICS, "test_items"])
    return frame


def novelty(recommended: NDArray[np.int64], popularity: NDArray[np.float64], n_users: int) -> float:
    """Mean self-information ``-log2(p_i)`` of recommended items, ``p_i`` = share of users who
    played item i in train (items nobody played count as played by one user)."""
    items = recommended[recommended >= 0]
    if len(items) == 0:
        return float("nan")
    share = np.maximum(popularity[items], 1.0) / n_users
    return float(np.mean(-np.log2(share)))


def novelty_per_list(
    recommended: NDArray[np.int64], popularity: NDArray[np.float64], n_users: int
) -> NDArray[np.float64]:
    """Each non-empty list's mean self-information (see :func:`novelty`)."""
    out = []
    for row in np.asarray(recommended):
        items = row[row >= 0]
        if len(items):
            out.append(float(np.mean(-np.log2(np.maximum(popularity[items], 1.0) / n_users))))
    return np.asarray(out, dtype=np.float64)


def interval95(values: NDArray[np.floating]) -> float:
    """Half-width of the normal 95% interval of a mean: ``1.96 sd / sqrt(n)`` (NaN below 2)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return float("nan")
    return float(1.96 * values.std(ddof=1) / np.sqrt(len(values)))


def average_popularity(recommended: NDArray[np.int64], popularity: NDArray[np.float64]) -> float:
    """ARP: mean over lists of the mean training popularity (users) of their items."""
    values = []
    for row in recommended:
        items = row[row >= 0]
        if len(items):
            values.append(popularity[items].mean())
    return float(np.mean(values)) if values else float("nan")


def coverage(recommended: NDArray[np.int64], catalogue: int | NDArray[np.bool_]) -> float:
    """Catalogue coverage: the share of the catalogue that appears in at least one list.

    ``catalogue`` is the number of items (all count), or a mask of the items that count; the
    experiments pass the items with at least one train listener (an item nobody played in train
    cannot be recommended by most models, so counting it would only lower every model alike).
    """
    items = np.unique(recommended[recommended >= 0])
    if isinstance(catalogue, int | np.integer):
        return len(items) / int(catalogue) if catalogue else float("nan")
    eligible = np.asarray(catalogue, dtype=bool)
    total = int(eligible.sum())
    return float(eligible[items].sum()) / total if total else float("nan")


def intra_list_diversity(recommended: NDArray[np.int64], space: spaces.VectorSpace) -> float:
    """ILD: mean over lists of the mean pairwise dissimilarity ``1 - similarity`` of their items,
    similarity measured in ``space`` (its name belongs in every label of the number).

    In [0, 1] for spaces whose similarities are non-negative (``space.nonnegative``: binary and
    log-weighted interactions, Jaccard); in [0, 2] for spaces with negative cosines (SVD,
    factors, z-scored audio features). Lists shorter than two items are left out.

    For cosine spaces (unit or zero rows) the mean pairwise similarity of a list is computed
    without the pairs: ``(|sum of its vectors|^2 - sum of |v|^2) / (n (n - 1))``, one sparse
    product for all lists.

    Examples
    --------
    >>> unit = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    >>> space = spaces.VectorSpace("items", "binary", "cosine", unit, np.ones(3))
    >>> round(intra_list_diversity(np.array([[0, 1, 2], [0, 1, -1]]), space), 4)
    0.3333
    """
    values = ild_per_list(recommended, space)
    return float(np.mean(values)) if len(values) else float("nan")


def ild_per_list(recommended: NDArray[np.int64], space: spaces.VectorSpace) -> NDArray[np.float64]:
    """The ILD of each list of at least two items (see :func:`intra_list_diversity`)."""
    lists = [row[row >= 0] for row in np.asarray(recommended)]
    lists = [items for items in lists if len(items) >= 2]
    if not lists:
        return np.zeros(0, dtype=np.float64)
    if space.measure != "cosine":
        return np.array([_pairwise_dissimilarity(items, space) for items in lists])
    sizes = np.array([len(items) for items in lists], dtype=np.float64)
    members = sp.csr_matrix(
        (np.ones(int(sizes.sum())), np.concatenate(lists), np.concatenate([[0], np.cumsum(sizes)])),
        shape=(len(lists), len(space)),
    )
    sums = members @ space.vectors
    squared = (
        np.asarray(sums.multiply(sums).sum(axis=1)).ravel()
        if sp.issparse(sums)
        else np.square(sums, dtype=np.float64).sum(axis=1)
    )
    own = members @ np.where(space.known, 1.0, 0.0)  # |v|^2 is 1 for a known row, else 0
    mean_similarity = (squared - own) / (sizes * (sizes - 1))
    return np.asarray(1.0 - mean_similarity, dtype=np.float64)


def _pairwise_dissimilarity(items: NDArray[np.int64], space: spaces.VectorSpace) -> float:
    sims = space.similarity(items)
    n = len(items)
    return float(1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1)))


def metric_label(metric: str, ild_space: str = ILD_SPACE) -> str:
    """A metric's name for tables, charts and panels: intra-list diversity names its space.

    Examples
    --------
    >>> metric_label("diversity"), metric_label("diversity", "content"), metric_label("ndcg")
    ('ILD (binary)', 'ILD (content)', 'ndcg')
    """
    return f"ILD ({ild_space})" if metric == "diversity" else metric


def list_metrics(
    recommended: NDArray[np.int64], train: InteractionData, space: spaces.VectorSpace
) -> dict[str, float]:
    """The beyond-accuracy metrics of a set of lists (one definition, every panel and table):
    see :data:`DEFINITIONS`. ``recommended`` holds the evaluated users' lists only."""
    listeners = train.listeners
    return {
        "coverage": coverage(recommended, listeners > 0),
        "diversity": intra_list_diversity(recommended, space),
        "novelty": novelty(recommended, listeners, int((train.items_per_user > 0).sum())),
        "arp": average_popularity(recommended, listeners),
    }


#: What each metric is, in words (printed in ``timbre evaluate --json`` and the docs).
DEFINITIONS: dict[str, str] = {
    "ndcg": "NDCG@K, binary gains, IDCG over min(K, |test items|); mean over evaluated users",
    "precision": "hits in the top K / K; mean over evaluated users",
    "recall": "hits in the top K / |test items|; mean over evaluated users",
    "map": "sum of precision at each hit / min(K, |test items|); mean over evaluated users",
    "hit_rate": "share of evaluated users with at least one hit in the top K",
    "coverage": "share of the items with >= 1 train listener that appear in any evaluated "
    "user's list",
    "diversity": "intra-list diversity (ILD): mean over evaluated users' lists of the mean "
    "pairwise 1 - similarity, in the space named by ild_space",
    "novelty": "mean over the evaluated users' list items of -log2(train listeners / train "
    "users); items without a train listener count as one",
    "arp": "average recommendation popularity: mean over evaluated users' lists of the mean "
    "number of train listeners of their items",
}
