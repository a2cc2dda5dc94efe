"""Similarity between users or between items in a named space: matrices, cluster order, 2-D maps.

The spaces (every user or item as a vector) come from :mod:`timbre.spaces`. A *subset* picks the
rows to compare: the most active users or most popular items, one entity's nearest neighbours,
the items of a genre or tag (or the users most into it), or a hand-picked list. The matrix of the
subset is ordered by hierarchical clustering so that blocks of taste show up, and the subset can
be projected to 2-D (PCA on the vectors, or t-SNE on the space's own distances).

The friends-vs-taste test compares the similarity of friend pairs (HetRec's ``user_friends``)
with that of as many random non-friend pairs, with a permutation-test p-value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre.errors import DataError, ParameterError, TimbreError
from timbre.interactions import InteractionData
from timbre.models.weighting import weight_matrix
from timbre.spaces import SPACE_NAMES, Kind, VectorSpace, activity, check_kind, support

log = logging.getLogger(__name__)

#: The spaces a similarity matrix can be shown in: every named space of :mod:`timbre.spaces`.
SPACES: tuple[str, ...] = SPACE_NAMES

#: How the rows of a matrix are chosen.
Subset = Literal["top", "neighbours", "genre", "tag", "list"]
SUBSETS: tuple[str, ...] = get_args(Subset)

#: What a genre / tag subset or count is about.
Label = Literal["genre", "tag"]

#: 2-D projections of a subset.
Projection = Literal["pca", "tsne"]
PROJECTIONS: tuple[str, ...] = get_args(Projection)

#: Hierarchical clustering linkages that work on any dissimilarity (Ward needs Euclidean).
LinkageMethod = Literal["average", "complete", "single"]
LINKAGES: tuple[str, ...] = get_args(LinkageMethod)

#: What colours the points of a 2-D map.
Colouring = Literal["cluster", "genre", "tag"]
COLOURINGS: tuple[str, ...] = get_args(Colouring)

#: Largest subset a matrix is built for (a 1,000 x 1,000 heatmap is already unreadable).
MAX_SUBSET = 1000
#: Distinct colours on a map; rarer genres or tags become "other".
MAX_COLOURS = 8


# ----- subsets -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """The rows chosen for a matrix, in selection order, and what was left out.

    Attributes
    ----------
    indices
        User or item indices.
    description
        What the subset is, for captions (``the 50 most popular items``).
    dropped
        Chosen rows left out because they have no vector in the space.
    """

    indices: NDArray[np.int64]
    description: str
    dropped: int = 0


def select(
    data: InteractionData,
    space: VectorSpace,
    subset: Subset = "top",
    size: int = 50,
    query: str | None = None,
    picks: Sequence[str] = (),
) -> Selection:
    """Choose the rows of a similarity matrix.

    Parameters
    ----------
    data, space
        The data set and the space the matrix will be computed in (its ``kind`` says whether
        users or items are chosen; rows without a vector in it are left out and counted).
    subset
        ``top``: the ``size`` most active users (total plays) or most popular items (listeners,
        then plays); ``neighbours``: the user or item ``query`` and its ``size - 1`` nearest in
        the space; ``genre`` / ``tag``: items with genre or tag ``query`` (most popular first),
        or the users who give the largest share of their plays to such items; ``list``: the
        users or items named in ``picks`` (ids or names), in that order.
    size
        How many rows at most (2..1000; ignored for ``list``).

    Raises
    ------
    ParameterError
        For an unknown ``subset``, a ``size`` out of range, or a missing ``query``.
    TimbreError
        For an unknown user, item, genre or tag (naming it), or fewer than two rows.
    """
    if subset not in SUBSETS:
        raise ParameterError(f"subset must be one of {', '.join(SUBSETS)}; got {subset!r}")
    if not 2 <= int(size) <= MAX_SUBSET:
        raise ParameterError(f"size must be within 2..{MAX_SUBSET}, got {size}")
    chosen = _candidates(data, space, subset, int(size), query, picks)
    has_vector = space.known[chosen]
    if subset == "list":
        keep, dropped = chosen[has_vector], int((~has_vector).sum())
    else:
        # walk down the ranking, skipping rows without a vector, until ``size`` are taken
        positions = np.flatnonzero(has_vector)[: int(size)]
        cut = int(positions[-1]) + 1 if len(positions) else len(chosen)
        keep, dropped = chosen[positions], int((~has_vector[:cut]).sum())
    if len(keep) < 2:
        raise TimbreError(
            f"fewer than two {space.kind} to compare in the {space.name} space "
            f"({len(keep)} chosen, {dropped} without a vector)"
        )
    text = _describe(data, space.kind, subset, keep, query)
    return Selection(np.asarray(keep, dtype=np.int64), text, dropped)


def _candidates(
    data: InteractionData,
    space: VectorSpace,
    subset: Subset,
    size: int,
    query: str | None,
    picks: Sequence[str],
) -> NDArray[np.int64]:
    """The rows a subset names, best first (before rows without a vector are skipped)."""
    kind = space.kind
    if subset == "top":
        return _top(data, kind)
    if subset == "list":
        if not picks:
            raise ParameterError("subset 'list' needs picks: the users or items to show")
        find = data.find_user if kind == "users" else data.find_item
        return np.asarray(list(dict.fromkeys(find(str(p)) for p in picks)), dtype=np.int64)
    if not query:
        what = (
            f"the {kind[:-1]} to start from" if subset == "neighbours" else f"the {subset} to show"
        )
        raise ParameterError(f"subset {subset!r} needs a query: {what}")
    if subset == "neighbours":
        center = data.find_user(query) if kind == "users" else data.find_item(query)
        if not space.known[center]:
            raise TimbreError(
                f"{_name(data, kind, center)!r} has no vector in the {space.name} space"
            )
        near, _ = space.nearest(center, size - 1)
        return np.concatenate([[center], near]).astype(np.int64)
    has = _has_label(data.item_meta, "genres" if subset == "genre" else "tags", query)
    if not has.any():
        close = _close_labels(data.item_meta, subset, query)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise TimbreError(f"no item has the {subset} {query!r}{hint}")
    return _by_label(data, kind, has)


def _describe(
    data: InteractionData, kind: Kind, subset: Subset, keep: NDArray[np.int64], query: str | None
) -> str:
    n = len(keep)
    if subset == "top":
        if kind == "users":
            return f"the {n} most active users (total plays)"
        return f"the {n} most popular items (listeners)"
    if subset == "neighbours":
        return f"{_name(data, kind, int(keep[0]))} and its {n - 1} nearest {kind}"
    if subset in ("genre", "tag"):
        if kind == "items":
            return f"the {n} most popular items with the {subset} {query!r}"
        return f"the {n} users who give the largest share of their plays to {subset} {query!r}"
    return f"{n} hand-picked {kind}"


def _top(data: InteractionData, kind: Kind) -> NDArray[np.int64]:
    plays = activity(data, kind)
    if kind == "users":
        order = np.lexsort((np.arange(len(plays)), -plays))
    else:
        listeners = support(data, kind)
        order = np.lexsort((np.arange(len(plays)), -plays, -listeners))
    return order.astype(np.int64)


def _normalise_label(text: object) -> str:
    return str(text).strip().lower()


def _labels(values: object) -> list[str]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        return []
    return [_normalise_label(v) for v in values]


def _has_label(item_meta: pd.DataFrame, column: str, query: str) -> NDArray[np.bool_]:
    wanted = _normalise_label(query)
    if column not in item_meta.columns:
        return np.zeros(len(item_meta), dtype=bool)
    return np.asarray([wanted in _labels(v) for v in item_meta[column]], dtype=bool)


def label_counts(item_meta: pd.DataFrame, which: Label) -> pd.Series:
    """How many items carry each genre (``which="genre"``) or tag, most common first."""
    column = "genres" if which == "genre" else "tags"
    if column not in item_meta.columns:
        return pd.Series(dtype=np.int64)
    counts = pd.Series([t for v in item_meta[column] for t in _labels(v)]).value_counts()
    return counts.rename(which)


def _close_labels(item_meta: pd.DataFrame, which: Label, query: str) -> list[str]:
    import difflib

    counts = label_counts(item_meta, which)
    return difflib.get_close_matches(_normalise_label(query), list(counts.index[:2000]), n=3)


def _by_label(data: InteractionData, kind: Kind, has: NDArray[np.bool_]) -> NDArray[np.int64]:
    if kind == "items":
        top = _top(data, "items")
        return top[has[top]]
    plays = activity(data, "users")
    on_label = np.asarray(data.user_items @ has.astype(np.float64), dtype=np.float64).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(plays > 0, on_label / plays, 0.0)
    order = np.lexsort((np.arange(len(share)), -plays, -share))
    return order[share[order] > 0].astype(np.int64)


def _name(data: InteractionData, kind: Kind, index: int) -> str:
    return data.users.id(index) if kind == "users" else data.item_name(index)


def display_names(
    data: InteractionData, kind: Kind, indices: NDArray[np.integer] | Sequence[int]
) -> list[str]:
    """Names for display, made unique: a name shared by several rows gets its id appended."""
    names = [_name(data, kind, int(i)) for i in indices]
    counts = pd.Series(names).value_counts()
    vocab = data.users if kind == "users" else data.items
    return [
        f"{name} ({vocab.id(int(i))})" if counts[name] > 1 else name
        for name, i in zip(names, indices, strict=True)
    ]


# ----- matrices and clustering ---------------------------------------------------------------
@dataclass(frozen=True)
class SimilarityMatrix:
    """A subset's similarity matrix, rows and columns in cluster order.

    Attributes
    ----------
    kind, space, measure
        As in :class:`VectorSpace`.
    indices
        User or item indices, in display order.
    ids, labels
        Their ids and unique display names, in display order.
    values
        ``n x n`` similarities in display order: symmetric, unit diagonal.
    clusters
        Cluster number (1..k, numbered top-down) of each row, contiguous in display order.
    description
        What the subset is.
    dropped
        Chosen rows left out for having no vector in the space.
    run_id
        The model run of a factor space.
    """

    kind: str
    space: str
    measure: str
    indices: NDArray[np.int64]
    ids: tuple[str, ...]
    labels: tuple[str, ...]
    values: NDArray[np.float64]
    clusters: NDArray[np.int64]
    description: str = ""
    dropped: int = 0
    run_id: int | None = None

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def n_clusters(self) -> int:
        return int(self.clusters.max()) if len(self.clusters) else 0

    def boundaries(self) -> list[int]:
        """Positions ``p`` where a new cluster starts (between rows ``p - 1`` and ``p``)."""
        return [int(p) for p in np.flatnonzero(np.diff(self.clusters) != 0) + 1]

    def off_diagonal(self) -> NDArray[np.float64]:
        """Every pair once (the upper triangle without the diagonal)."""
        upper = np.triu_indices(len(self.indices), k=1)
        return np.asarray(self.values[upper], dtype=np.float64)

    def frame(self) -> pd.DataFrame:
        """The matrix as a table: ``id, name, cluster`` then one column per row (its name).

        Column headers are names: :func:`timbre.export.csv_text` makes them as safe as cells.
        """
        table = pd.DataFrame(self.values.round(6), columns=list(self.labels))
        table.insert(0, "cluster", self.clusters)
        table.insert(0, "name", list(self.labels))
        table.insert(0, "id", list(self.ids))
        return table


def cluster_order(
    values: NDArray[np.floating], n_clusters: int = 6, method: LinkageMethod = "average"
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Order rows by hierarchical clustering so that similar rows sit together.

    Agglomerative clustering (scipy) on the dissimilarity ``1 - similarity`` with optimal leaf
    ordering (adjacent leaves as similar as possible); the tree is cut into at most
    ``n_clusters`` clusters, which are contiguous in the leaf order.

    Parameters
    ----------
    values
        A square, symmetric similarity matrix.
    n_clusters
        How many clusters to cut the tree into (at most; fewer when rows are tied).
    method
        ``average``, ``complete`` or ``single`` linkage.

    Returns
    -------
    order
        A permutation of ``range(n)``: the display order.
    clusters
        Each displayed row's cluster, numbered 1..k from the top.

    Examples
    --------
    >>> s = np.array([[1, .1, .9], [.1, 1, .2], [.9, .2, 1]])
    >>> order, clusters = cluster_order(s, 2)
    >>> sorted(order.tolist()), clusters.tolist() in ([1, 1, 2], [1, 2, 2])
    ([0, 1, 2], True)
    """
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ParameterError(f"values must be a square matrix, got shape {matrix.shape}")
    if n_clusters < 1:
        raise ParameterError(f"n_clusters must be at least 1, got {n_clusters}")
    if method not in LINKAGES:
        raise ParameterError(f"method must be one of {', '.join(LINKAGES)}; got {method!r}")
    n = matrix.shape[0]
    if n < 3:
        return np.arange(n, dtype=np.int64), np.ones(n, dtype=np.int64)
    from scipy.cluster.hierarchy import fcluster, leaves_list, linkage  # 0.15 s: only here
    from scipy.spatial.distance import squareform

    distance = np.clip(1.0 - (matrix + matrix.T) / 2.0, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method=method, optimal_ordering=True)
    order = leaves_list(tree).astype(np.int64)
    raw = fcluster(tree, t=min(int(n_clusters), n), criterion="maxclust")[order]
    # number clusters top-down in display order
    first_seen: dict[int, int] = {}
    for label in raw:
        first_seen.setdefault(int(label), len(first_seen) + 1)
    clusters = np.asarray([first_seen[int(label)] for label in raw], dtype=np.int64)
    return order, clusters


def similarity_matrix(
    data: InteractionData,
    space: VectorSpace,
    selection: Selection | NDArray[np.integer] | Sequence[int],
    n_clusters: int = 6,
    method: LinkageMethod = "average",
    cluster: bool = True,
) -> SimilarityMatrix:
    """The similarity matrix of the selected rows, ordered by clustering.

    Parameters
    ----------
    data
        The data set (for ids and names).
    space
        Where to measure similarity.
    selection
        A :class:`Selection` or plain indices.
    n_clusters, method
        See :func:`cluster_order`.
    cluster
        ``False`` keeps the selection order (one cluster).
    """
    if isinstance(selection, Selection):
        chosen, description, dropped = selection.indices, selection.description, selection.dropped
    else:
        chosen, description, dropped = np.asarray(selection, dtype=np.int64), "", 0
    if len(chosen) < 1:
        raise ParameterError("selection must hold at least one row")
    values = space.similarity(chosen)
    if cluster:
        order, clusters = cluster_order(values, n_clusters, method)
    else:
        order, clusters = np.arange(len(chosen)), np.ones(len(chosen), dtype=np.int64)
    indices = chosen[order]
    vocab = data.users if space.kind == "users" else data.items
    return SimilarityMatrix(
        kind=space.kind,
        space=space.name,
        measure=space.measure,
        indices=indices,
        ids=tuple(vocab.id(int(i)) for i in indices),
        labels=tuple(display_names(data, space.kind, indices)),
        values=values[np.ix_(order, order)],
        clusters=clusters,
        description=description,
        dropped=dropped,
        run_id=space.run_id,
    )


# ----- 2-D maps ------------------------------------------------------------------------------
def project(
    space: VectorSpace,
    indices: NDArray[np.integer] | Sequence[int],
    method: Projection = "pca",
    random_state: int = 0,
    similarity: NDArray[np.floating] | None = None,
) -> NDArray[np.float64]:
    """2-D coordinates of the given rows (``len(indices) x 2``).

    ``pca``: scikit-learn's PCA of the rows' vectors (unit vectors for the cosine spaces, 0/1
    sets for Jaccard). ``tsne``: scikit-learn's t-SNE on the space's own dissimilarity
    ``1 - similarity``, started from the PCA layout; pass ``similarity`` (the rows' matrix, same
    order) to reuse it. Both are deterministic for a given ``random_state``.

    Raises
    ------
    ValueError
        For an unknown ``method``, or t-SNE with fewer than 5 rows.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method not in PROJECTIONS:
        raise ParameterError(f"method must be pca or tsne; got {method!r}")
    rows = np.asarray(indices, dtype=np.int64)
    n = len(rows)
    block = space.vectors[rows]
    if sp.issparse(block):
        block = sp.csr_matrix(block)
        used = np.unique(block.indices)  # all-zero columns change nothing in a PCA
        dense = np.asarray(block[:, used].toarray(), dtype=np.float64)
    else:
        dense = np.asarray(block, dtype=np.float64)
    coords = np.zeros((n, 2), dtype=np.float64)
    components = min(2, n, dense.shape[1])
    if components >= 1 and n >= 2:
        coords[:, :components] = PCA(
            n_components=components, random_state=random_state
        ).fit_transform(dense)
    if method == "pca":
        return coords
    if n < 5:
        raise ParameterError(f"t-SNE needs at least 5 rows, got {n}")
    sims = space.similarity(rows) if similarity is None else np.asarray(similarity, np.float64)
    distance = np.clip(1.0 - sims, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    spread = float(np.std(coords[:, 0])) or 1.0
    start = coords / spread * 1e-4  # scikit-learn's own scaling of a PCA start
    tsne = TSNE(
        n_components=2,
        metric="precomputed",
        init=start,
        perplexity=float(min(30.0, (n - 1) / 3.0)),
        random_state=random_state,
    )
    return np.asarray(tsne.fit_transform(distance), dtype=np.float64)


def colour_labels(
    data: InteractionData,
    kind: Kind,
    indices: NDArray[np.integer] | Sequence[int],
    by: Colouring = "genre",
    clusters: NDArray[np.integer] | None = None,
    max_colours: int = MAX_COLOURS,
) -> list[str]:
    """A category per row to colour a map by.

    ``cluster``: ``cluster k`` from ``clusters``; ``genre`` / ``tag``: an item's first (main)
    genre or top tag, a user's most played one (log-weighted plays). Rows with none are
    ``unknown``; beyond the ``max_colours`` most frequent categories, ``other``.
    """
    check_kind(kind)
    rows = np.asarray(indices, dtype=np.int64)
    if by == "cluster":
        if clusters is None or len(clusters) != len(rows):
            raise ParameterError("colouring by cluster needs one cluster per row")
        return [f"cluster {int(c)}" for c in clusters]
    if by not in ("genre", "tag"):
        raise ParameterError(f"by must be one of {', '.join(COLOURINGS)}; got {by!r}")
    column = "genres" if by == "genre" else "tags"
    meta = data.item_meta
    lists = meta[column].tolist() if column in meta.columns else [[]] * len(meta)
    if kind == "items":
        labels = [(_labels(lists[int(i)]) or ["unknown"])[0] for i in rows]
    else:
        main: list[str | None] = [next(iter(_labels(v)), None) for v in lists]
        weighted = weight_matrix(data.user_items[rows], "log")
        labels = []
        for k in range(len(rows)):
            row = weighted[k]
            totals: dict[str, float] = {}
            for item, value in zip(row.indices, row.data, strict=True):
                label = main[int(item)]
                if label is not None:
                    totals[label] = totals.get(label, 0.0) + float(value)
            labels.append(min(totals, key=lambda t: (-totals[t], t)) if totals else "unknown")
    counts = pd.Series([x for x in labels if x != "unknown"]).value_counts()
    keep = set(counts.index[:max_colours])
    return [x if x in keep or x == "unknown" else "other" for x in labels]


# ----- friends vs taste ----------------------------------------------------------------------
def friend_index_pairs(
    data: InteractionData, friends: pd.DataFrame
) -> tuple[NDArray[np.int64], int]:
    """Unique undirected friend pairs as user indices (``m x 2``, ``a < b``), sorted.

    Parameters
    ----------
    friends
        ``user_key, friend_key`` rows (directed or not), e.g. ``Store.friend_pairs``.

    Returns
    -------
    pairs, skipped
        The pairs, and how many rows were left out (a user not in ``data``, or a self pair).
    """
    if friends.empty:
        return np.zeros((0, 2), dtype=np.int64), 0
    a = data.users.indices(friends["user_key"].astype(str))
    b = data.users.indices(friends["friend_key"].astype(str))
    valid = (a >= 0) & (b >= 0) & (a != b)
    lo, hi = np.minimum(a[valid], b[valid]), np.maximum(a[valid], b[valid])
    pairs = np.unique(np.stack([lo, hi], axis=1), axis=0) if valid.any() else np.zeros((0, 2))
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2), int((~valid).sum())


@dataclass(frozen=True)
class FriendsVsTaste:
    """Whether friends have more similar taste than random pairs of users.

    Attributes
    ----------
    space, measure
        Where similarity was measured.
    friend_similarity, random_similarity
        One value per friend pair and per random non-friend pair (same count).
    friend_mean, random_mean, difference
        Means, and friends minus random.
    p_value, null_sd
        Two-sided permutation-test p-value of the difference: the pair labels (friend / random)
        shuffled ``permutations`` times, ``(1 + #{|shuffled difference| >= |difference|}) /
        (1 + permutations)``. Pairs share users, so the pairs are not independent; read it as a
        measure of how unusual the difference is, not an exact error rate. ``null_sd``: the
        standard deviation of the shuffled differences.
    permutations, seed
        The test's settings (the random pairs come from the same seed).
    skipped
        Friend pairs left out because a user has no vector in the space.
    """

    space: str
    measure: str
    friend_similarity: NDArray[np.float64]
    random_similarity: NDArray[np.float64]
    friend_mean: float
    random_mean: float
    difference: float
    p_value: float
    null_sd: float
    permutations: int
    seed: int
    skipped: int = 0

    @property
    def z(self) -> float:
        """The difference in units of the shuffled differences' standard deviation."""
        return self.difference / self.null_sd if self.null_sd > 0 else float("nan")

    @property
    def pairs(self) -> int:
        return len(self.friend_similarity)

    def as_dict(self) -> dict[str, Any]:
        """The numbers (not the per-pair values), for JSON."""
        return {
            "space": self.space,
            "measure": self.measure,
            "friend_pairs": self.pairs,
            "random_pairs": len(self.random_similarity),
            "friend_mean": self.friend_mean,
            "random_mean": self.random_mean,
            "difference": self.difference,
            "p_value": self.p_value,
            "null_sd": self.null_sd,
            "z": self.z,
            "permutations": self.permutations,
            "seed": self.seed,
            "skipped": self.skipped,
        }

    def summary(self) -> str:
        """One sentence with the numbers."""
        return (
            f"{self.pairs:,} friend pairs: mean similarity {self.friend_mean:.4f} against "
            f"{self.random_mean:.4f} for as many random non-friend pairs ({self.space} space); "
            f"difference {self.difference:+.4f} ({self.z:.1f} x the sd of shuffled differences), "
            f"permutation p = {_p_text(self)}"
        )


def _p_text(result: FriendsVsTaste) -> str:
    floor = 1.0 / (result.permutations + 1)
    if result.p_value <= floor:
        return f"{result.p_value:.2g} (none of {result.permutations:,} shuffles reached it)"
    return f"{result.p_value:.3g}"


def random_pairs(
    candidates: NDArray[np.integer],
    count: int,
    exclude: NDArray[np.integer],
    rng: np.random.Generator,
) -> NDArray[np.int64]:
    """``count`` distinct unordered pairs (``a < b``) of ``candidates``, none in ``exclude``."""
    pool = np.asarray(candidates, dtype=np.int64)
    n = len(pool)
    possible = n * (n - 1) // 2 - len(exclude)
    if count > possible:
        raise DataError(f"cannot draw {count:,} random pairs from {n:,} users")
    excluded = np.asarray(exclude, dtype=np.int64).reshape(-1, 2)
    base = int(max(pool.max(initial=0), excluded.max(initial=0))) + 1
    taken = set((excluded @ np.asarray([base, 1], dtype=np.int64)).tolist())
    out: list[int] = []
    seen: set[int] = set()
    while len(out) < count:
        draw = max(2 * (count - len(out)), 64)
        a = pool[rng.integers(0, n, draw)]
        b = pool[rng.integers(0, n, draw)]
        for x, y in zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist(), strict=True):
            code = x * base + y
            if x == y or code in taken or code in seen:
                continue
            seen.add(code)
            out.append(code)
            if len(out) == count:
                break
    codes = np.asarray(out, dtype=np.int64)
    return np.stack([codes // base, codes % base], axis=1)


def permutation_test(
    a: NDArray[np.floating], b: NDArray[np.floating], permutations: int, seed: int
) -> tuple[float, float]:
    """Two-sided permutation test of ``mean(a) - mean(b)``: the labels shuffled ``permutations``
    times (seeded).

    Returns
    -------
    p_value, null_sd
        ``(1 + #{|shuffled difference| >= |observed|}) / (1 + permutations)``, and the standard
        deviation of the shuffled differences (the scale of a difference that chance gives).
    """
    if permutations < 1:
        raise ParameterError(f"permutations must be at least 1, got {permutations}")
    pooled = np.concatenate([a, b]).astype(np.float64)
    m, total = len(a), float(pooled.sum())
    if m == 0 or len(b) == 0:
        raise ParameterError("both groups need at least one value")
    observed = abs(float(np.mean(a)) - float(np.mean(b)))
    rng = np.random.default_rng(seed)
    shuffled = np.empty(permutations, dtype=np.float64)
    for k in range(permutations):
        first = float(pooled[rng.permutation(len(pooled))[:m]].sum())
        shuffled[k] = first / m - (total - first) / (len(pooled) - m)
    # a relative tolerance: a shuffle that reproduces the observed split must count as extreme
    extreme = int((np.abs(shuffled) >= observed - 1e-12 * max(1.0, observed)).sum())
    return (1 + extreme) / (1 + permutations), float(shuffled.std())


def friends_vs_taste(
    space: VectorSpace,
    pairs: NDArray[np.integer],
    permutations: int = 2000,
    seed: int = 0,
) -> FriendsVsTaste:
    """Similarity of friend pairs against as many random non-friend pairs (seeded).

    Parameters
    ----------
    space
        A ``users`` space.
    pairs
        Friend pairs as user indices (``m x 2``; from :func:`friend_index_pairs`).
    permutations
        Label shuffles of the permutation test.
    seed
        Seeds the random pairs and the permutations.

    Raises
    ------
    ValueError
        For an items space or bad ``permutations``.
    DataError
        When no friend pair is left.
    """
    if space.kind != "users":
        raise ParameterError("friends vs taste compares users: give a users space")
    if permutations < 1:
        raise ParameterError(f"permutations must be at least 1, got {permutations}")
    friends = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    known = space.known
    usable = known[friends[:, 0]] & known[friends[:, 1]] if len(friends) else np.zeros(0, bool)
    kept = friends[usable]
    if len(kept) == 0:
        raise DataError("no friend pairs to compare (the data set has no friend graph)")
    rng = np.random.default_rng(seed)
    others = random_pairs(np.flatnonzero(known), len(kept), friends, rng)
    friend_sims = space.pair_similarity(kept[:, 0], kept[:, 1])
    random_sims = space.pair_similarity(others[:, 0], others[:, 1])
    friend_mean, random_mean = float(friend_sims.mean()), float(random_sims.mean())
    p_value, null_sd = permutation_test(friend_sims, random_sims, permutations, seed + 1)
    log.info("friends vs taste: %d pairs, diff %.4f, p %.4g", len(kept), friend_mean, p_value)
    return FriendsVsTaste(
        space=space.name,
        measure=space.measure,
        friend_similarity=friend_sims,
        random_similarity=random_sims,
        friend_mean=friend_mean,
        random_mean=random_mean,
        difference=friend_mean - random_mean,
        p_value=p_value,
        null_sd=null_sd,
        permutations=int(permutations),
        seed=int(seed),
        skipped=int((~usable).sum()),
    )
