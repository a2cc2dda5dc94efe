"""Similarity between users or between items in a named space: matrices, cluster order, 2-D maps.

A *space* turns every user (or item) into a vector: its log-weighted interactions (cosine), its
set of items or listeners (Jaccard), a trained ALS or BPR model's factors (cosine), or its
content vector (cosine; users get the weighted mean of what they played). A *subset* picks the
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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
from scipy.spatial.distance import squareform

from timbre.errors import DataError, ParameterError, TimbreError
from timbre.interactions import InteractionData
from timbre.models.base import Recommender, row_normalize, top_n
from timbre.models.weighting import weight_matrix

if TYPE_CHECKING:
    from timbre.store import Store

log = logging.getLogger(__name__)

#: Whose similarity: between users (rows of the matrix) or between items (its columns).
Kind = Literal["users", "items"]
KINDS: tuple[str, ...] = get_args(Kind)

#: The named spaces.
Space = Literal["interactions", "jaccard", "als", "bpr", "content"]
SPACES: tuple[str, ...] = get_args(Space)
#: Spaces that need a trained model of the same name.
FACTOR_SPACES: tuple[str, ...] = ("als", "bpr")
#: One line per space, for the CLI help and the page.
SPACE_TITLES: dict[str, str] = {
    "interactions": "cosine on interactions (log-weighted play counts)",
    "jaccard": "Jaccard on sets (shared items / shared listeners)",
    "als": "cosine on ALS factors",
    "bpr": "cosine on BPR factors",
    "content": "cosine on content (audio features, tags, genres)",
}

#: How the rows of a matrix are chosen.
Subset = Literal["top", "neighbours", "genre", "tag", "list"]
SUBSETS: tuple[str, ...] = get_args(Subset)

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


# ----- spaces --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimilaritySpace:
    """Users or items as vectors in one named space.

    Attributes
    ----------
    kind
        ``users`` or ``items``.
    space
        The space's name (one of :data:`SPACES`).
    measure
        ``cosine`` (``vectors`` have unit rows) or ``jaccard`` (``vectors`` are 0/1 rows).
    vectors
        One row per user or item of the data set (sparse or dense); all-zero where nothing is
        known (e.g. an item without tags or audio features in the content space).
    support
        Per row: the item's listeners or the user's distinct items (for support shrinkage).
    run_id
        The model run whose factors the space uses (factor spaces only).
    """

    kind: str
    space: str
    measure: str
    vectors: sp.csr_matrix | NDArray[np.float32]
    support: NDArray[np.float64]
    run_id: int | None = None
    _sizes: NDArray[np.float64] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        vectors = self.vectors
        if self.measure == "jaccard":
            sizes = np.asarray(vectors.sum(axis=1), dtype=np.float64).ravel()
        elif isinstance(vectors, np.ndarray):
            sizes = np.square(vectors, dtype=np.float64).sum(axis=1)
        else:
            sizes = np.asarray(vectors.multiply(vectors).sum(axis=1), dtype=np.float64).ravel()
        object.__setattr__(self, "_sizes", sizes)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def known(self) -> NDArray[np.bool_]:
        """Rows with a non-zero vector (the others have no similarity to anything)."""
        return np.asarray(self._sizes > 0)

    def similarity(
        self,
        rows: NDArray[np.integer] | Sequence[int],
        cols: NDArray[np.integer] | Sequence[int] | None = None,
    ) -> NDArray[np.float64]:
        """The ``rows x cols`` block of the similarity matrix (``cols`` defaults to ``rows``).

        Cosine is clipped to [-1, 1]; Jaccard lies in [0, 1]. A pair involving an all-zero row
        gets 0. The square block of one subset is exactly symmetric with a unit diagonal for the
        known rows.
        """
        r = np.asarray(rows, dtype=np.int64)
        c = r if cols is None else np.asarray(cols, dtype=np.int64)
        inner = _dense(self.vectors[r] @ self.vectors[c].T)
        if self.measure == "jaccard":
            union = self._sizes[r][:, None] + self._sizes[c][None, :] - inner
            with np.errstate(invalid="ignore", divide="ignore"):
                values = np.where(union > 0, inner / union, 0.0)
        else:
            values = np.clip(inner, -1.0, 1.0)
        if cols is None:
            values = (values + values.T) / 2.0  # float rounding must not break symmetry
            known = self._sizes[r] > 0
            values[np.diag_indices(len(r))] = np.where(known, 1.0, 0.0)
        return values

    def pair_similarity(
        self, a: NDArray[np.integer] | Sequence[int], b: NDArray[np.integer] | Sequence[int]
    ) -> NDArray[np.float64]:
        """Similarity of each pair ``(a[k], b[k])``, computed row by row (no full matrix)."""
        left = np.asarray(a, dtype=np.int64)
        right = np.asarray(b, dtype=np.int64)
        if len(left) != len(right):
            raise ParameterError("a and b must have the same length")
        vectors = self.vectors
        if isinstance(vectors, np.ndarray):
            inner = np.einsum("ij,ij->i", vectors[left], vectors[right], dtype=np.float64)
        else:
            inner = np.asarray(
                vectors[left].multiply(vectors[right]).sum(axis=1), dtype=np.float64
            ).ravel()
        if self.measure == "jaccard":
            union = self._sizes[left] + self._sizes[right] - inner
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(union > 0, inner / union, 0.0)
        return np.clip(inner, -1.0, 1.0)

    def nearest(
        self, index: int, n: int = 10, shrinkage: float = 0.0
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """The ``n`` rows most similar to row ``index`` (itself left out), best first.

        Parameters
        ----------
        shrinkage
            Multiply each candidate's similarity by ``s / (s + shrinkage)``, ``s`` its support
            (listeners of an item, distinct items of a user), as the factor models' similar
            items do, so that barely observed rows do not crowd the list. ``0``: plain.
        """
        if not 0 <= int(index) < len(self):
            raise TimbreError(f"{self.kind[:-1]} index {index} out of range 0..{len(self) - 1}")
        if shrinkage < 0:
            raise ParameterError(f"shrinkage must be >= 0, got {shrinkage}")
        sims = self.similarity([int(index)], np.arange(len(self)))[0]
        if shrinkage > 0:
            sims = sims * self.support / (self.support + shrinkage)
        sims[~self.known] = np.nan
        return top_n(sims, n, np.asarray([int(index)]))


def _dense(block: Any) -> NDArray[np.float64]:
    if sp.issparse(block):
        return np.asarray(block.toarray(), dtype=np.float64)
    return np.asarray(block, dtype=np.float64)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ParameterError(f"kind must be users or items; got {kind!r}")


def _check_space(space: str) -> None:
    if space not in SPACES:
        raise ParameterError(f"space must be one of {', '.join(SPACES)}; got {space!r}")


def support(data: InteractionData, kind: str) -> NDArray[np.float64]:
    """Distinct items per user, or listeners per item."""
    _check_kind(kind)
    if kind == "users":
        return np.diff(data.user_items.indptr).astype(np.float64)
    return np.diff(data.user_items.tocsc().indptr).astype(np.float64)


def activity(data: InteractionData, kind: str) -> NDArray[np.float64]:
    """Total plays (summed weights) per user, or per item."""
    _check_kind(kind)
    axis = 1 if kind == "users" else 0
    return np.asarray(data.user_items.sum(axis=axis), dtype=np.float64).ravel()


def build_space(
    data: InteractionData,
    kind: str,
    space: str = "interactions",
    model: Recommender | None = None,
    run_id: int | None = None,
    weighting: str = "log",
) -> SimilaritySpace:
    """Users or items of ``data`` as vectors in ``space``.

    Parameters
    ----------
    data
        The data set.
    kind
        ``users`` or ``items``.
    space
        ``interactions``: the rows (users) or columns (items) of the weighted matrix, cosine;
        ``jaccard``: the same as sets; ``als`` / ``bpr``: the model's user or item factors,
        cosine (BPR's item-bias column, a constant 1 for users, is left out); ``content``: item
        content vectors (:func:`timbre.features.content_vectors`), users as the
        ``weighting``-weighted mean of what they played, cosine.
    model
        A fitted model of the factor space's family, trained on ``data`` (factor spaces only).
    run_id
        The model's run, recorded in the result.
    weighting
        How play counts are weighted for ``interactions`` and user ``content`` profiles
        (:func:`timbre.models.weighting.weight_matrix`; default ``log``).

    Raises
    ------
    ValueError
        For an unknown ``kind``, ``space`` or ``weighting``, or a model of another family.
    TimbreError
        When a factor space has no model ("train an ALS model first") or the model was trained
        on other data.
    DataError
        When the data has no content at all for the content space.
    """
    _check_kind(kind)
    _check_space(space)
    popularity = support(data, kind)
    user_items = data.user_items
    if space == "interactions":
        weighted = weight_matrix(user_items, weighting)
        matrix = weighted if kind == "users" else weighted.T.tocsr()
        return SimilaritySpace(kind, space, "cosine", row_normalize(matrix), popularity)
    if space == "jaccard":
        # copy: csr_matrix of a float32 CSR shares its arrays, and the data must stay untouched
        source = user_items if kind == "users" else user_items.T
        binary = sp.csr_matrix(source, dtype=np.float32, copy=True)
        binary.data[:] = 1.0
        binary.eliminate_zeros()
        return SimilaritySpace(kind, space, "jaccard", binary, popularity)
    if space == "content":
        from timbre.features import content_vectors

        content = content_vectors(data.item_meta)
        if not content.known.any():
            raise DataError(
                f"data set {data.dataset!r} has no audio features, tags or genres: "
                "the content space is empty"
            )
        items = sp.csr_matrix(content.matrix, dtype=np.float32)
        if kind == "items":
            return SimilaritySpace(kind, space, "cosine", items, popularity)
        profiles = row_normalize(sp.csr_matrix(weight_matrix(user_items, weighting) @ items))
        return SimilaritySpace(kind, space, "cosine", profiles, popularity)
    factors = _factors(data, kind, space, model)
    norms = np.linalg.norm(factors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit = np.asarray(factors / norms, dtype=np.float32)
    return SimilaritySpace(kind, space, "cosine", unit, popularity, run_id)


def _factors(
    data: InteractionData, kind: str, space: str, model: Recommender | None
) -> NDArray[np.float32]:
    title = space.upper()
    article = "an" if space == "als" else "a"  # "an ALS", "a BPR"
    if model is None:
        raise TimbreError(
            f"the {space} space needs a trained {title} model on {data.dataset!r}: train {article} "
            f"{title} model first (`timbre train --model {space}` or the Train page)"
        )
    if model.name != space:
        raise ParameterError(f"the {space} space needs {article} {title} model, not {model.name}")
    if not model.is_fitted or model.fingerprint_ != data.fingerprint:
        raise TimbreError(
            f"the {title} model was not trained on the current data of {data.dataset!r}: "
            f"train {article} {title} model first (`timbre train --model {space}`)"
        )
    factors = np.asarray(
        getattr(model, "user_factors_" if kind == "users" else "item_factors_"),
        dtype=np.float32,
    )
    if space == "bpr" and factors.shape[1] == int(getattr(model, "factors", -1)) + 1:
        # implicit's BPR appends an item-bias column (and a constant 1 to every user): a constant
        # dimension would make all users alike and drag popular items together
        factors = factors[:, :-1]
    return factors


def factor_run(store: Store, data: InteractionData, model: str) -> dict[str, Any] | None:
    """The newest run of ``model`` on ``data``'s data set trained on exactly this data (same
    fingerprint) with a saved artifact, or ``None``."""
    for run in store.list_model_runs():  # newest first
        if (
            run["model"] == model
            and run["dataset"] == data.dataset
            and run["fingerprint"] == data.fingerprint
            and run["artifact_path"]
        ):
            return run
    return None


def load_space(
    store: Store, data: InteractionData, kind: str, space: str = "interactions"
) -> SimilaritySpace:
    """:func:`build_space`, loading the newest matching model run for a factor space.

    Raises
    ------
    TimbreError
        When a factor space has no run trained on this data: "train an ALS model first".
    """
    _check_kind(kind)
    _check_space(space)
    if space not in FACTOR_SPACES:
        return build_space(data, kind, space)
    from timbre.models.runs import load_run

    run = factor_run(store, data, space)
    if run is None:
        return build_space(data, kind, space)  # raises "train an ... model first"
    return build_space(data, kind, space, load_run(run, data), int(run["id"]))


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
    space: SimilaritySpace,
    subset: str = "top",
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
    ValueError
        For an unknown ``subset``, a ``size`` out of range, or a missing ``query``.
    TimbreError
        For an unknown user, item, genre or tag (naming it), or fewer than two rows.
    """
    if subset not in SUBSETS:
        raise ParameterError(f"subset must be one of {', '.join(SUBSETS)}; got {subset!r}")
    if not 2 <= int(size) <= MAX_SUBSET:
        raise ParameterError(f"size must be within 2..{MAX_SUBSET}, got {size}")
    size = int(size)
    kind = space.kind
    noun = kind[:-1]
    known = space.known
    if subset == "top":
        chosen = _top(data, kind)
    elif subset == "neighbours":
        if not query:
            raise ParameterError(f"subset 'neighbours' needs a query: the {noun} to start from")
        center = data.find_user(query) if kind == "users" else data.find_item(query)
        if not known[center]:
            raise TimbreError(
                f"{_name(data, kind, center)!r} has no vector in the {space.space} space"
            )
        near, _ = space.nearest(center, size - 1)
        chosen = np.concatenate([[center], near]).astype(np.int64)
    elif subset in ("genre", "tag"):
        if not query:
            raise ParameterError(f"subset {subset!r} needs a query: the {subset} to show")
        has = _has_label(data.item_meta, "genres" if subset == "genre" else "tags", query)
        if not has.any():
            close = _close_labels(data.item_meta, subset, query)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise TimbreError(f"no item has the {subset} {query!r}{hint}")
        chosen = _by_label(data, kind, has)
    else:
        if not picks:
            raise ParameterError("subset 'list' needs picks: the users or items to show")
        find = data.find_user if kind == "users" else data.find_item
        chosen = np.asarray(list(dict.fromkeys(find(str(p)) for p in picks)), dtype=np.int64)
    has_vector = known[chosen]
    if subset == "list":
        keep, dropped = chosen[has_vector], int((~has_vector).sum())
    else:
        # walk down the ranking, skipping rows without a vector, until ``size`` are taken
        positions = np.flatnonzero(has_vector)[:size]
        cut = int(positions[-1]) + 1 if len(positions) else len(chosen)
        keep, dropped = chosen[positions], int((~has_vector[:cut]).sum())
    if len(keep) < 2:
        raise TimbreError(
            f"fewer than two {kind} to compare in the {space.space} space "
            f"({len(keep)} chosen, {dropped} without a vector)"
        )
    n = len(keep)
    if subset == "top":
        text = (
            f"the {n} most active users (total plays)"
            if kind == "users"
            else f"the {n} most popular items (listeners)"
        )
    elif subset == "neighbours":
        text = f"{_name(data, kind, int(keep[0]))} and its {n - 1} nearest {kind}"
    elif subset in ("genre", "tag"):
        text = (
            f"the {n} most popular items with the {subset} {query!r}"
            if kind == "items"
            else f"the {n} users who give the largest share of their plays to {subset} {query!r}"
        )
    else:
        text = f"{n} hand-picked {kind}"
    return Selection(np.asarray(keep, dtype=np.int64), text, dropped)


def _top(data: InteractionData, kind: str) -> NDArray[np.int64]:
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


def label_counts(item_meta: pd.DataFrame, which: str) -> pd.Series:
    """How many items carry each genre (``which="genre"``) or tag, most common first."""
    column = "genres" if which == "genre" else "tags"
    if column not in item_meta.columns:
        return pd.Series(dtype=np.int64)
    counts = pd.Series([t for v in item_meta[column] for t in _labels(v)]).value_counts()
    return counts.rename(which)


def _close_labels(item_meta: pd.DataFrame, which: str, query: str) -> list[str]:
    import difflib

    counts = label_counts(item_meta, which)
    return difflib.get_close_matches(_normalise_label(query), list(counts.index[:2000]), n=3)


def _by_label(data: InteractionData, kind: str, has: NDArray[np.bool_]) -> NDArray[np.int64]:
    if kind == "items":
        top = _top(data, "items")
        return top[has[top]]
    plays = activity(data, "users")
    on_label = np.asarray(data.user_items @ has.astype(np.float64), dtype=np.float64).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(plays > 0, on_label / plays, 0.0)
    order = np.lexsort((np.arange(len(share)), -plays, -share))
    return order[share[order] > 0].astype(np.int64)


def _name(data: InteractionData, kind: str, index: int) -> str:
    return data.users.id(index) if kind == "users" else data.item_name(index)


def display_names(
    data: InteractionData, kind: str, indices: NDArray[np.integer] | Sequence[int]
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
        As in :class:`SimilaritySpace`.
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

        Column headers are names, so those a spreadsheet would run as a formula get the same
        ``'`` prefix as cells (:func:`timbre.export.neutralize_formulas`).
        """
        from timbre.export import neutralize_formulas

        headers = neutralize_formulas(pd.DataFrame({"h": list(self.labels)}))["h"].tolist()
        table = pd.DataFrame(self.values.round(6), columns=headers)
        table.insert(0, "cluster", self.clusters)
        table.insert(0, "name", list(self.labels))
        table.insert(0, "id", list(self.ids))
        return table


def cluster_order(
    values: NDArray[np.floating], n_clusters: int = 6, method: str = "average"
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
    space: SimilaritySpace,
    selection: Selection | NDArray[np.integer] | Sequence[int],
    n_clusters: int = 6,
    method: str = "average",
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
        space=space.space,
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
    space: SimilaritySpace,
    indices: NDArray[np.integer] | Sequence[int],
    method: str = "pca",
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
    kind: str,
    indices: NDArray[np.integer] | Sequence[int],
    by: str = "genre",
    clusters: NDArray[np.integer] | None = None,
    max_colours: int = MAX_COLOURS,
) -> list[str]:
    """A category per row to colour a map by.

    ``cluster``: ``cluster k`` from ``clusters``; ``genre`` / ``tag``: an item's first (main)
    genre or top tag, a user's most played one (log-weighted plays). Rows with none are
    ``unknown``; beyond the ``max_colours`` most frequent categories, ``other``.
    """
    _check_kind(kind)
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
    space: SimilaritySpace,
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
        space=space.space,
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
