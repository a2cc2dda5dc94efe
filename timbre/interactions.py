"""Identity and matrices: ``Vocabulary`` (external id <-> index) and ``InteractionData``."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Generic, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre.errors import DataError, NotFoundError, TimbreError
from timbre.records import name_key


class Vocabulary:
    """A fixed, ordered set of external string ids and their contiguous indices.

    The only place where ids are translated to indices and back. Unknown ids never become an
    ``IndexError``: ``indices`` maps them to ``-1`` and ``index`` raises a ``TimbreError``.

    Examples
    --------
    >>> vocab = Vocabulary(["a", "b"])
    >>> vocab.index("b"), vocab.id(0), vocab.indices(["b", "zz"]).tolist()
    (1, 'a', [1, -1])
    """

    def __init__(self, ids: Iterable[str], name: str = "item") -> None:
        self.name = name
        self._load: Callable[[], Iterable[str]] | None = None
        self._set_ids(ids)

    @classmethod
    def deferred(cls, count: int, load: Callable[[], Iterable[str]], name: str) -> Vocabulary:
        """A vocabulary of ``count`` ids that ``load`` gives on first use of them (the matrix
        cache's: the ids are read with the matrix, made Python strings only when needed);
        checked for duplicates then, as any other."""
        vocab = cls.__new__(cls)
        vocab.name, vocab._count, vocab._load = name, count, load
        return vocab

    def _set_ids(self, ids: Iterable[str]) -> None:
        values = np.asarray([str(i) for i in ids], dtype=object)
        index = pd.Index(values, dtype=object)  # no Arrow copy of every id: lookups only
        if not index.is_unique:
            dupes = index[index.duplicated()].unique()[:5].tolist()
            raise DataError(f"duplicate {self.name} ids in vocabulary: {dupes}")
        self._ids, self._index_of, self._count = values, index, len(values)

    def _materialize(self) -> None:
        if self._load is not None:
            ids = list(self._load())
            if len(ids) != self._count:
                raise DataError(f"{self.name} vocabulary: {len(ids)} ids where {self._count} were")
            self._set_ids(ids)
            self._load = None

    @property
    def ids(self) -> NDArray[np.object_]:
        """The ids in index order."""
        self._materialize()
        return self._ids

    @property
    def _index(self) -> pd.Index:
        self._materialize()
        return self._index_of

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and np.array_equal(self.ids, other.ids)

    def __hash__(self) -> int:
        return hash(tuple(self.ids))

    def __repr__(self) -> str:
        return f"Vocabulary({self.name}, n={len(self)})"

    def index(self, key: str) -> int:
        """Index of one id; raises ``TimbreError`` naming the id when it is unknown (one hash
        lookup: 0.3 us, where :meth:`indices` of one builds an index, 70 us)."""
        position = self._index.get_loc(key) if isinstance(key, str) and key in self._index else -1
        if not isinstance(position, int | np.integer) or position < 0:
            raise NotFoundError(f"unknown {self.name}: {key!r}")
        return int(position)

    def indices(self, keys: Iterable[str]) -> NDArray[np.int64]:
        """Indices of many ids, ``-1`` for the unknown ones."""
        wanted = pd.Index(list(keys), dtype=object)
        return np.asarray(self._index.get_indexer(wanted), dtype=np.int64)

    def id(self, index: int) -> str:
        """The id at ``index``; raises ``TimbreError`` when out of range."""
        if not 0 <= int(index) < len(self):
            raise TimbreError(f"{self.name} index {index} out of range 0..{len(self) - 1}")
        return str(self.ids[int(index)])


def build_matrix(
    user_index: Sequence[int] | NDArray[np.integer],
    item_index: Sequence[int] | NDArray[np.integer],
    weights: Sequence[float] | NDArray[np.floating],
    shape: tuple[int, int],
) -> sp.csr_matrix:
    """Build the user x item CSR float32 matrix, summing duplicate (user, item) pairs.

    The one function that makes interaction matrices; everything else calls it.

    Raises
    ------
    DataError
        If an index is negative or out of ``shape``, or a weight is not finite.
    """
    rows = np.asarray(user_index, dtype=np.int64)
    cols = np.asarray(item_index, dtype=np.int64)
    data = np.asarray(weights, dtype=np.float64)
    if not (len(rows) == len(cols) == len(data)):
        raise DataError("user_index, item_index and weights must have the same length")
    if len(rows) and (
        rows.min() < 0 or cols.min() < 0 or rows.max() >= shape[0] or cols.max() >= shape[1]
    ):
        raise DataError(f"interaction index outside the matrix shape {shape}")
    if len(data) and not np.all(np.isfinite(data)):
        raise DataError("interaction weights must be finite numbers")
    matrix = sp.coo_matrix((data, (rows, cols)), shape=shape).tocsr()
    matrix.sum_duplicates()
    matrix.sort_indices()
    return sp.csr_matrix(matrix, dtype=np.float32)


def row_normalize(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Scale every row of a sparse matrix to unit L2 norm (all-zero rows stay zero), float32."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ matrix, dtype=np.float32)


class DeferredFrame:
    """A frame (of ``rows`` rows, when given) that ``load`` makes on first use (the matrix
    cache's item metadata and frames: their bytes are read with the matrix, the pandas frame
    built only when asked for)."""

    def __init__(self, rows: int | None, load: Callable[[], pd.DataFrame]) -> None:
        self.rows, self._load = rows, load

    def load(self) -> pd.DataFrame:
        frame = self._load()
        if self.rows is not None and len(frame) != self.rows:
            raise DataError(f"deferred frame: {len(frame)} rows where {self.rows} were")
        return frame


_NO_DEFAULT = object()
#: What a deferred field reads as: a frame, or a frame or ``None``.
F = TypeVar("F", pd.DataFrame, pd.DataFrame | None)


class _MaybeDeferred(Generic[F]):
    """A dataclass field holding a frame (or ``None``) or a :class:`DeferredFrame`, read as the
    frame (made once, on first access)."""

    def __init__(self, default: object = _NO_DEFAULT) -> None:
        self._default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}_value"

    def __get__(self, obj: object, owner: type | None = None) -> F:
        if obj is None:
            if self._default is _NO_DEFAULT:
                raise AttributeError  # no default value for the dataclass field
            return self._default  # type: ignore[return-value]
        value = obj.__dict__[self._slot]
        if isinstance(value, DeferredFrame):
            value = value.load()
            obj.__dict__[self._slot] = value
        return value

    def __set__(self, obj: object, value: F | DeferredFrame) -> None:
        obj.__dict__[self._slot] = value

    def rows(self, obj: object) -> int | None:
        """The frame's rows, without making a deferred one (``None``: not known yet)."""
        value = obj.__dict__[self._slot]
        return value.rows if isinstance(value, DeferredFrame) else len(value)


@dataclass(frozen=True)
class InteractionData:
    """A data set ready for the models: user x item CSR matrix, vocabularies, item metadata.

    Attributes
    ----------
    dataset
        The name of the data set it came from.
    users, items
        Vocabularies; row ``u`` of ``user_items`` is ``users.id(u)``.
    user_items
        CSR float32, users x items, duplicates summed.
    item_meta
        One row per item in vocabulary order: at least ``key, name, kind, artist``; where known
        ``genres``, ``tags`` (lists of strings) and the audio feature columns. May be given as a
        :class:`DeferredFrame` (the matrix cache does): read, it is always the frame.
    events
        Optional per-interaction rows ``user, item, weight, timestamp`` (indices), kept for
        temporal splits; ``None`` when the source has no timestamps.
    tag_weights
        Optional ``item, tag, weight`` rows (item indices): every tag of every item, from which
        ``item_meta["tags"]`` holds the top ones.
    tag_events
        Optional ``user, item, tag`` rows (indices), with ``timestamp`` where known: who gave
        which tag to which item (and when); an experiment removes the held-out pairs' share of
        ``tag_weights`` (no leak into the test), and a global time cut the later ones' share.
    """

    dataset: str
    users: Vocabulary
    items: Vocabulary
    user_items: sp.csr_matrix
    item_meta: _MaybeDeferred[pd.DataFrame] = _MaybeDeferred()
    events: _MaybeDeferred[pd.DataFrame | None] = _MaybeDeferred(None)
    tag_weights: _MaybeDeferred[pd.DataFrame | None] = _MaybeDeferred(None)
    tag_events: _MaybeDeferred[pd.DataFrame | None] = _MaybeDeferred(None)
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        shape = (len(self.users), len(self.items))
        if self.user_items.shape != shape:
            raise DataError(f"user_items shape {self.user_items.shape} != vocabularies {shape}")
        rows = InteractionData.__dict__["item_meta"].rows(self)  # a deferred one stays so
        if rows is not None and rows != len(self.items):
            raise DataError("item_meta must have one row per item")

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def nnz(self) -> int:
        return int(self.user_items.nnz)

    @cached_property
    def listeners(self) -> NDArray[np.float64]:
        """Distinct users per item (the one place it is counted: popularity, novelty, filters)."""
        return np.diff(self.user_items.tocsc().indptr).astype(np.float64)

    @cached_property
    def items_per_user(self) -> NDArray[np.float64]:
        """Distinct items per user."""
        return np.diff(self.user_items.indptr).astype(np.float64)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) of the matrix and both vocabularies."""
        digest = hashlib.sha256()
        m = self.user_items
        for part in (m.indptr, m.indices, m.data):
            digest.update(np.ascontiguousarray(part).tobytes())
        digest.update("\x1f".join(self.users.ids).encode())
        digest.update(b"\x1e")
        digest.update("\x1f".join(self.items.ids).encode())
        return digest.hexdigest()[:16]

    @cached_property
    def item_names(self) -> NDArray[np.object_]:
        """Every item's ``name`` as text (computed once: every list shows some)."""
        return np.asarray(self.item_meta["name"].astype(str).to_numpy(), dtype=object)

    @cached_property
    def item_artists(self) -> NDArray[np.object_]:
        """Every item's artist, computed once: a track's or album's own (``""`` where none is
        known), an artist item's name."""
        column = self.item_meta.get("artist")
        if column is None:
            artists = np.full(self.n_items, "", dtype=object)
        else:
            artists = np.asarray([a if isinstance(a, str) else "" for a in column], dtype=object)
        kind = self.item_meta.get("kind")
        if kind is not None:
            own = (kind.astype(str).to_numpy() == "artist") & (artists == "")
            artists[own] = self.item_names[own]
        return artists

    @cached_property
    def display_names(self) -> NDArray[np.object_]:
        """Every item's display name: ``name``, or ``artist - name`` for tracks and albums."""
        names = self.item_meta["name"].astype(str).to_numpy(dtype=object)
        artists = self.item_meta["artist"].to_numpy(dtype=object)
        kinds = self.item_meta["kind"].to_numpy(dtype=object)
        out = names.copy()
        for i in np.flatnonzero(np.isin(kinds, ["track", "album"])):
            artist = artists[i]
            if isinstance(artist, str) and artist:
                out[i] = f"{artist} - {names[i]}"
        return out

    def item_name(self, index: int) -> str:
        """Display name of an item (``name`` or ``artist - name`` for tracks)."""
        self.items.id(index)  # a TimbreError when out of range
        return str(self.display_names[int(index)])

    def find_item(self, query: str) -> int:
        """Index of an item given its id, the last part of its id (``289`` for
        ``hetrec:artist:289``) or its name (case, accents and "feat." credits ignored).

        Raises ``TimbreError`` naming the query, with close names when there are any.
        """
        names = self.item_meta["name"].astype(str).tolist()
        return _lookup(self.items, query, names, self.listeners)

    def find_user(self, query: str) -> int:
        """Index of a user given their id or the last part of it (``2`` for ``hetrec:user:2``)."""
        return _lookup(self.users, query, None, self.items_per_user)

    @classmethod
    def from_frames(
        cls,
        interactions: pd.DataFrame,
        items: pd.DataFrame,
        dataset: str,
        min_user_interactions: int = 1,
        min_item_interactions: int = 1,
    ) -> InteractionData:
        """Build from long-format frames (``Store.load_dataset`` output or a CSV).

        Parameters
        ----------
        interactions
            ``user_key, item_key, weight`` and optionally ``timestamp``.
        items
            ``key`` plus metadata columns (``name``, ``kind``, ``artist``, ...). Items that
            nobody interacted with are left out; interactions with items missing here get a
            placeholder row (name = key).
        min_user_interactions, min_item_interactions
            Keep only users / items with at least this many distinct interactions (applied
            once, items first then users).
        """
        for column in ("user_key", "item_key", "weight"):
            if column not in interactions.columns:
                raise DataError(f"interactions need a {column!r} column")
        frame = interactions
        if min_item_interactions > 1:
            counts = frame.groupby("item_key")["user_key"].nunique()
            frame = frame[frame["item_key"].isin(counts[counts >= min_item_interactions].index)]
        if min_user_interactions > 1:
            counts = frame.groupby("user_key")["item_key"].nunique()
            frame = frame[frame["user_key"].isin(counts[counts >= min_user_interactions].index)]
        if frame.empty:
            raise DataError(f"data set {dataset!r} has no interactions left to build a matrix")
        # one hashing pass per column: sorted distinct ids and each row's position among them
        u, user_ids = pd.factorize(frame["user_key"].astype(str), sort=True)
        i, item_ids = pd.factorize(frame["item_key"].astype(str), sort=True)
        timestamps = frame["timestamp"] if "timestamp" in frame.columns else None
        weights = frame["weight"].to_numpy(dtype=np.float64)
        return cls._assemble(dataset, (u, user_ids), (i, item_ids), weights, items, timestamps)

    @classmethod
    def from_codes(
        cls,
        dataset: str,
        users: tuple[NDArray[np.object_], NDArray[np.int64]],
        items: tuple[NDArray[np.object_], NDArray[np.int64]],
        weights: NDArray[np.float64],
        item_meta: pd.DataFrame,
        timestamps: pd.Series | None = None,
    ) -> InteractionData:
        """Build from arrays (``Store.load_columns``): exactly what :meth:`from_frames` builds
        from the same rows as keys, without a string per row.

        Parameters
        ----------
        users, items
            ``(keys, codes)``: the distinct keys (any order) and per row its position in them.
        weights
            Per row.
        item_meta
            As in :meth:`from_frames`.
        timestamps
            Per row (UTC, ``NaT`` where none), or ``None``.
        """
        if not len(weights):
            raise DataError(f"data set {dataset!r} has no interactions left to build a matrix")
        # each distinct key's rank among the sorted keys, as from_frames' factorize sorts them
        user_rank, user_ids = pd.factorize(pd.Series(users[0]).astype(str), sort=True)
        item_rank, item_ids = pd.factorize(pd.Series(items[0]).astype(str), sort=True)
        u, i = user_rank[users[1]], item_rank[items[1]]
        return cls._assemble(dataset, (u, user_ids), (i, item_ids), weights, item_meta, timestamps)

    @classmethod
    def _assemble(
        cls,
        dataset: str,
        users: tuple[NDArray[np.intp], pd.Index],
        items: tuple[NDArray[np.intp], pd.Index],
        weights: NDArray[np.float64],
        item_meta: pd.DataFrame,
        timestamps: pd.Series | None,
    ) -> InteractionData:
        """The data set from each row's user and item positions among the sorted keys."""
        (u, user_ids), (i, item_ids) = users, items
        user_vocab, item_vocab = Vocabulary(user_ids, "user"), Vocabulary(item_ids, "item")
        matrix = build_matrix(u, i, weights, (len(user_vocab), len(item_vocab)))
        meta = item_meta.drop_duplicates("key").set_index("key").reindex(item_ids)
        meta.index.name = "key"
        meta = meta.reset_index()
        if "name" not in meta.columns:
            meta["name"] = meta["key"]
        meta["name"] = meta["name"].fillna(meta["key"])
        for column in ("kind", "artist"):
            if column not in meta.columns:
                meta[column] = None
        events = None
        if timestamps is not None and timestamps.notna().any():
            events = pd.DataFrame(
                {
                    "user": u,
                    "item": i,
                    "weight": weights,
                    "timestamp": pd.to_datetime(timestamps, utc=True).to_numpy(),
                }
            )
        return cls(dataset, user_vocab, item_vocab, matrix, meta, events)

    def as_trained(
        self,
        user_ids: Sequence[str] | NDArray[np.object_],
        item_ids: Sequence[str] | NDArray[np.object_],
        user_items: sp.csr_matrix,
    ) -> InteractionData:
        """The data a model was trained on (its vocabularies and matrix, from its artifact),
        with this data set's current metadata and tags for those items.

        What a run serves from after new interactions arrived: its fingerprint is the run's,
        so the run keeps scoring; items it knows that this data set has lost keep a
        placeholder row (name = id).
        """
        users, items = Vocabulary(user_ids, "user"), Vocabulary(item_ids, "item")
        meta = self.item_meta.set_index("key").reindex(items.ids)
        meta.index.name = "key"
        meta = meta.reset_index()
        meta["name"] = meta["name"].fillna(meta["key"])
        tag_weights = None
        if self.tag_weights is not None:
            moved = items.indices(self.items.ids[self.tag_weights["item"].to_numpy()])
            tag_weights = self.tag_weights.assign(item=moved)[moved >= 0].reset_index(drop=True)
        matrix = sp.csr_matrix(user_items, dtype=np.float32)
        return InteractionData(self.dataset, users, items, matrix, meta, None, tag_weights)

    def with_tags(self, weights: pd.DataFrame, assignments: pd.DataFrame) -> InteractionData:
        """This data set with its tag data (``Store.load_tags``): ``tag_weights`` and
        ``tag_events`` in indices; rows naming users or items outside the data set are left
        out."""
        item = self.items.indices(weights["item_key"].astype(str))
        tag_weights = pd.DataFrame(
            {
                "item": item,
                "tag": weights["tag"].astype(str).to_numpy(),
                "weight": weights["weight"],
            }
        )[item >= 0].reset_index(drop=True)
        user = self.users.indices(assignments["user_key"].astype(str))
        item = self.items.indices(assignments["item_key"].astype(str))
        columns = {"user": user, "item": item, "tag": assignments["tag"].astype(str).to_numpy()}
        if "timestamp" in assignments.columns:
            columns["timestamp"] = pd.to_datetime(assignments["timestamp"], utc=True).to_numpy()
        tag_events = pd.DataFrame(columns)[(user >= 0) & (item >= 0)].reset_index(drop=True)
        return dataclasses.replace(self, tag_weights=tag_weights, tag_events=tag_events)


def _lookup(
    vocab: Vocabulary, query: str, names: list[str] | None, popularity: NDArray[np.floating]
) -> int:
    text = str(query).strip()
    if not text:
        raise NotFoundError(f"unknown {vocab.name}: {text!r} (give a name or an id)")
    if text in vocab:
        return vocab.index(text)
    suffix = [i for i, key in enumerate(vocab.ids) if str(key).rsplit(":", 1)[-1] == text]
    if len(suffix) == 1:
        return suffix[0]
    close: list[str] = []
    if names is not None:
        wanted = name_key(text)
        keys = [name_key(n) for n in names]
        exact = [i for i, name in enumerate(names) if name == text]
        if not exact and wanted:  # a query that normalises to nothing ("?!") matches no name
            exact = [i for i, key in enumerate(keys) if key == wanted]
        if exact:
            # several items may share a (normalised) name: the most listened wins
            return max(exact, key=lambda i: (int(popularity[i]), -i))
        close = sorted({names[i] for i, key in enumerate(keys) if wanted and wanted in key})[:5]
        if not close:
            by_key = dict(zip(keys, names, strict=True))
            close = [by_key[k] for k in difflib.get_close_matches(wanted, list(by_key), n=3)]
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    if len(suffix) > 1:
        hint = f"; {len(suffix)} {vocab.name}s have ids ending in {text!r}, give the full id"
    raise NotFoundError(f"unknown {vocab.name}: {text!r}{hint}")
