"""Every vector space users and items live in, built once per data set; each one has a name.

A *space* turns every user (or item) of a data set into a vector. Similarity (the heatmaps,
neighbour lists), intra-list diversity (every metrics panel) and the MMR diversity bonus all
measure in a space named here, so that a number always says where it was measured:

===============  ============================================================  =======
name             vectors                                                         measure
===============  ============================================================  =======
``interactions`` rows / columns of the log-weighted play counts                 cosine
``binary``       who played what (0/1)                                           cosine
``jaccard``      the same 0/1 sets                                               Jaccard
``svd``          a 64-d truncated SVD of the 0/1 item columns (fast for MMR)     cosine
``als``, ``bpr`` a trained model's user or item factors                          cosine
``content``      audio features and tag / genre TF-IDF (users: what they played)  cosine
===============  ============================================================  =======

:func:`space` builds a space once per data set object and remembers it there (keyed by the data
fingerprint and the model), so the Tune panel, an evaluation and a heatmap that ask for the same
space share one build.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre.errors import DataError, ParameterError, TimbreError
from timbre.interactions import InteractionData, row_normalize
from timbre.models.base import top_n
from timbre.models.weighting import weight_matrix

#: Whose vectors: users (rows of the matrix) or items (its columns).
Kind = Literal["users", "items"]
KINDS: tuple[str, ...] = get_args(Kind)

#: The named spaces.
SpaceName = Literal["interactions", "binary", "jaccard", "svd", "als", "bpr", "content"]
SPACE_NAMES: tuple[str, ...] = get_args(SpaceName)
#: Spaces that need a trained model of the same name.
FACTOR_SPACES: tuple[str, ...] = ("als", "bpr")
#: What each space is, for labels ("ILD (binary interactions, cosine)").
SPACE_TITLES: dict[str, str] = {
    "interactions": "interactions (log-weighted plays), cosine",
    "binary": "binary interactions (who played it), cosine",
    "jaccard": "binary interactions, Jaccard",
    "svd": "64-d SVD of binary interactions, cosine",
    "als": "ALS factors, cosine",
    "bpr": "BPR factors, cosine",
    "content": "content (audio features, tags, genres), cosine",
}
#: Spaces whose similarities are never negative (so 1 - similarity stays within [0, 1]).
NONNEGATIVE_SPACES: tuple[str, ...] = ("interactions", "binary", "jaccard")
#: Dimensions of the ``svd`` space.
SVD_DIMS = 64


class FactorModel(Protocol):
    """What a factor space reads from a trained model (ALS, BPR)."""

    name: str
    factors: int
    fingerprint_: str
    user_factors_: NDArray[np.float32]
    item_factors_: NDArray[np.float32]

    @property
    def is_fitted(self) -> bool: ...


@dataclass(frozen=True)
class VectorSpace:
    """Users or items as vectors in one named space.

    Attributes
    ----------
    kind
        ``users`` or ``items``.
    name
        The space's name (one of :data:`SPACE_NAMES`).
    measure
        ``cosine`` (``vectors`` have unit or zero rows) or ``jaccard`` (0/1 rows).
    vectors
        One row per user or item of the data set (sparse or dense); all-zero where nothing is
        known (e.g. an item without tags or audio features in the content space).
    support
        Per row: the item's listeners or the user's distinct items (for support shrinkage).
    run_id
        The model run whose factors the space uses (factor spaces only).
    """

    kind: Kind
    name: SpaceName
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
    def title(self) -> str:
        """What the space is, for labels."""
        return SPACE_TITLES[self.name]

    @property
    def nonnegative(self) -> bool:
        """Whether every similarity lies in [0, 1] (else in [-1, 1])."""
        return self.name in NONNEGATIVE_SPACES

    @property
    def known(self) -> NDArray[np.bool_]:
        """Rows with a non-zero vector (the others have no similarity to anything)."""
        return np.asarray(self._sizes > 0)

    def similarity(
        self,
        rows: NDArray[np.integer] | list[int],
        cols: NDArray[np.integer] | list[int] | None = None,
    ) -> NDArray[np.float64]:
        """The ``rows x cols`` block of the similarity matrix (``cols`` defaults to ``rows``).

        Cosine is clipped to [-1, 1]; Jaccard lies in [0, 1]. A pair involving an all-zero row
        gets 0. The square block of one subset is exactly symmetric with a unit diagonal for the
        known rows.
        """
        r = np.asarray(rows, dtype=np.int64)
        c = r if cols is None else np.asarray(cols, dtype=np.int64)
        inner = _dense(self.vectors[r] @ self.vectors[c].T)
        values = self._from_inner(inner, self._sizes[r][:, None], self._sizes[c][None, :])
        if cols is None:
            values = (values + values.T) / 2.0  # float rounding must not break symmetry
            values[np.diag_indices(len(r))] = np.where(self._sizes[r] > 0, 1.0, 0.0)
        return values

    def gram(
        self, rows: NDArray[np.integer], cols: NDArray[np.integer] | None = None
    ) -> NDArray[np.float32]:
        """Raw inner products of ``rows`` with ``cols`` (default ``rows``; for cosine spaces:
        their cosines), float32: what MMR and the reasons need, fast, without the symmetrising
        and clipping of :meth:`similarity`."""
        if self.measure != "cosine":
            return self.similarity(rows, cols).astype(np.float32)
        block = self.vectors[np.asarray(rows, dtype=np.int64)]
        other = block if cols is None else self.vectors[np.asarray(cols, dtype=np.int64)]
        return np.asarray(_dense(block @ other.T), dtype=np.float32)

    def pair_similarity(
        self, a: NDArray[np.integer] | list[int], b: NDArray[np.integer] | list[int]
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
        return self._from_inner(inner, self._sizes[left], self._sizes[right])

    def _from_inner(
        self, inner: NDArray[np.float64], left: NDArray[np.float64], right: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        if self.measure == "jaccard":
            union = left + right - inner
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.asarray(np.where(union > 0, inner / union, 0.0), dtype=np.float64)
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


def check_kind(kind: str) -> None:
    """``ParameterError`` unless ``kind`` is ``users`` or ``items``."""
    if kind not in KINDS:
        raise ParameterError(f"kind must be users or items; got {kind!r}")


def check_space(name: str, allowed: tuple[str, ...] = SPACE_NAMES) -> None:
    """``ParameterError`` naming the choices unless ``name`` is one of ``allowed``."""
    if name not in allowed:
        raise ParameterError(f"space must be one of {', '.join(allowed)}; got {name!r}")


def support(data: InteractionData, kind: Kind) -> NDArray[np.float64]:
    """Distinct items per user, or listeners per item."""
    check_kind(kind)
    return data.items_per_user if kind == "users" else data.listeners


def activity(data: InteractionData, kind: Kind) -> NDArray[np.float64]:
    """Total plays (summed weights) per user, or per item."""
    check_kind(kind)
    axis = 1 if kind == "users" else 0
    return np.asarray(data.user_items.sum(axis=axis), dtype=np.float64).ravel()


def _unit_dense(values: NDArray[Any]) -> NDArray[np.float32]:
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(values / norms, dtype=np.float32)


def binary_matrix(data: InteractionData, kind: Kind) -> sp.csr_matrix:
    """Who played what as 0/1 rows (users) or columns turned rows (items)."""
    source = data.user_items if kind == "users" else data.user_items.T
    # copy: csr_matrix of a float32 CSR shares its arrays, and the data must stay untouched
    binary = sp.csr_matrix(source, dtype=np.float32, copy=True)
    binary.data[:] = 1.0
    binary.eliminate_zeros()
    return binary


def _svd(binary: sp.csr_matrix) -> NDArray[np.float32]:
    from sklearn.decomposition import TruncatedSVD

    if min(binary.shape) <= 2:
        return _unit_dense(np.asarray(binary.toarray(), dtype=np.float64))
    dims = max(1, min(SVD_DIMS, min(binary.shape) - 1))
    return _unit_dense(TruncatedSVD(dims, random_state=0).fit_transform(binary))


def _cached_svd(data: InteractionData, kind: Kind) -> NDArray[np.float32]:
    """The SVD vectors, from the matrix cache when the data was loaded through it."""
    from timbre import matrix_cache

    name = f"svd{SVD_DIMS}-{kind}"
    found = matrix_cache.load_arrays(data, name)
    rows = data.n_users if kind == "users" else data.n_items
    if found is not None and "vectors" in found and found["vectors"].shape[0] == rows:
        return np.asarray(found["vectors"], dtype=np.float32)
    vectors = _svd(binary_matrix(data, kind))
    matrix_cache.save_arrays(data, name, vectors=vectors)
    return vectors


def _content(data: InteractionData, kind: Kind) -> sp.csr_matrix:
    from timbre.features import content_vectors

    content = content_vectors(data.item_meta)
    if not content.known.any():
        raise DataError(
            f"data set {data.dataset!r} has no audio features, tags or genres: "
            "the content space is empty"
        )
    items = sp.csr_matrix(content.matrix, dtype=np.float32)
    if kind == "items":
        return items
    return row_normalize(sp.csr_matrix(weight_matrix(data.user_items, "log") @ items))


def _factors(data: InteractionData, kind: Kind, name: SpaceName, model: FactorModel | None) -> Any:
    title = name.upper()
    article = "an" if name == "als" else "a"  # "an ALS", "a BPR"
    if model is None:
        raise TimbreError(
            f"the {name} space needs a trained {title} model on {data.dataset!r}: train {article} "
            f"{title} model first (`timbre train --model {name}` or the Train page)"
        )
    if model.name != name:
        raise ParameterError(f"the {name} space needs {article} {title} model, not {model.name}")
    if not model.is_fitted or model.fingerprint_ != data.fingerprint:
        raise TimbreError(
            f"the {title} model was not trained on the current data of {data.dataset!r}: "
            f"train {article} {title} model first (`timbre train --model {name}`)"
        )
    factors = np.asarray(
        model.user_factors_ if kind == "users" else model.item_factors_, dtype=np.float32
    )
    if name == "bpr" and factors.shape[1] == int(model.factors) + 1:
        # implicit's BPR appends an item-bias column (and a constant 1 to every user): a constant
        # dimension would make all users alike and drag popular items together
        factors = factors[:, :-1]
    return _unit_dense(factors)


def build_space(
    data: InteractionData,
    kind: Kind,
    name: SpaceName = "interactions",
    model: FactorModel | None = None,
    run_id: int | None = None,
) -> VectorSpace:
    """Users or items of ``data`` as vectors in the space ``name`` (see the module docstring).

    Parameters
    ----------
    model
        A fitted model of the factor space's family, trained on ``data`` (factor spaces only).
    run_id
        The model's run, recorded in the result.

    Raises
    ------
    ParameterError
        For an unknown ``kind`` or ``name``, or a model of another family.
    TimbreError
        When a factor space has no model ("train an ALS model first") or the model was trained
        on other data.
    DataError
        When the data has no content at all for the content space.
    """
    check_kind(kind)
    check_space(name)
    popularity = support(data, kind)
    vectors: sp.csr_matrix | NDArray[np.float32]
    measure = "jaccard" if name == "jaccard" else "cosine"
    if name == "interactions":
        weighted = weight_matrix(data.user_items, "log")
        vectors = row_normalize(weighted if kind == "users" else weighted.T.tocsr())
    elif name in ("binary", "jaccard"):
        binary = binary_matrix(data, kind)
        vectors = binary if name == "jaccard" else row_normalize(binary)
    elif name == "svd":
        vectors = _cached_svd(data, kind)
    elif name == "content":
        vectors = _content(data, kind)
    else:
        vectors = _factors(data, kind, name, model)
    return VectorSpace(kind, name, measure, vectors, popularity, run_id)


_BUILD_LOCK = threading.Lock()


def space(
    data: InteractionData,
    kind: Kind,
    name: SpaceName,
    model: FactorModel | None = None,
    run_id: int | None = None,
) -> VectorSpace:
    """:func:`build_space`, built once per data set object and remembered on it.

    The key is the data fingerprint, the kind, the space and (factor spaces) the model's run or
    identity, so a split's training data (another fingerprint) never gets the full data's space.
    """
    token = None if name not in FACTOR_SPACES else (run_id if run_id is not None else id(model))
    key = (data.fingerprint, kind, name, token)
    cache: dict[tuple[Any, ...], VectorSpace] = data.extra.setdefault("spaces", {})  # type: ignore[assignment]
    found = cache.get(key)
    if found is None:
        with _BUILD_LOCK:
            found = cache.get(key)
            if found is None:
                found = cache[key] = build_space(data, kind, name, model, run_id)
    return found
