"""The one model contract: fit, score, recommend, similar_items, explain, save and load."""

from __future__ import annotations

import inspect
import json
import logging
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

from timbre.atomic import atomic_write
from timbre.errors import (
    DataError,
    NotFittedError,
    ParameterError,
    StorageError,
    TimbreError,
    TimbreWarning,
)
from timbre.interactions import InteractionData
from timbre.models.artifacts import (
    artifact_checksum,
    check_rows,
    check_scores,
    damaged,
    read_arrays,
)
from timbre.models.topn import top_n, top_n_rows  # noqa: F401 - top_n_rows re-exported

log = logging.getLogger(__name__)

#: Called with (fraction done in 0..1, a short message) while a model trains.
ProgressCallback = Callable[[float, str], None]

#: Version of the artifact layout (the JSON sidecar's ``format``).
ARTIFACT_FORMAT = 1

_BATCH = 256
#: Inspected once: ``threadpool_limits`` rescans the loaded libraries each time (2.7 ms here);
#: limiting through one controller costs 0.01 ms.
_THREADS = ThreadpoolController()


def one_blas_thread() -> Any:
    """A context with BLAS limited to one thread.

    implicit trains many times slower with several BLAS threads, and many small products (one
    listener re-ranked, a batch scored) only wait on each other (8 ms instead of 0.3 ms measured
    on 2 busy cores).
    """
    return _THREADS.limit(limits=1, user_api="blas")


def _no_progress(_fraction: float, _message: str) -> None:
    return None


@dataclass(frozen=True)
class Param:
    """A hyper-parameter's description for the CLI and the Train page.

    Its default and type come from the model's field (its ``__init__`` signature), so they live in
    one place.
    """

    name: str
    help: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    #: The values a tuning sweep tries by default (empty: the parameter is not tuned).
    search: tuple[Any, ...] = ()


@dataclass(frozen=True)
class ParamSpec:
    """A :class:`Param` resolved against a model class: with its default and type."""

    name: str
    help: str
    default: Any
    kind: type
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    search: tuple[Any, ...] = ()

    def parse(self, text: str) -> Any:
        """Convert a command-line string to this parameter's type, then validate it."""
        value: Any
        try:
            if self.kind is bool:
                lowered = text.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                value = lowered in ("true", "1", "yes")
            elif self.kind is int:
                value = int(text)
            elif self.kind is float:
                value = float(text)
            else:
                value = text.strip()
        except ValueError:
            kind = {int: "whole number", float: "number", bool: "true or false"}.get(
                self.kind, self.kind.__name__
            )
            raise ParameterError(
                f"parameter {self.name!r} must be a {kind}, got {text!r}"
            ) from None
        self.validate(value)
        return value

    def validate(self, value: Any) -> None:
        """Raise ``ValueError`` naming the parameter when ``value`` is out of its range."""
        if self.kind in (int, float) and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise ParameterError(f"parameter {self.name!r} must be a number, got {value!r}")
        if self.kind is int and not float(value).is_integer():
            raise ParameterError(f"parameter {self.name!r} must be a whole number, got {value!r}")
        if self.choices and value not in self.choices:
            raise ParameterError(
                f"parameter {self.name!r} must be one of {', '.join(self.choices)}; got {value!r}"
            )
        if self.kind in (int, float):
            if not np.isfinite(float(value)):
                raise ParameterError(f"parameter {self.name!r} must be finite, got {value!r}")
            if self.low is not None and value < self.low:
                raise ParameterError(
                    f"parameter {self.name!r} must be >= {self.low:g}, got {value!r}"
                )
            if self.high is not None and value > self.high:
                raise ParameterError(
                    f"parameter {self.name!r} must be <= {self.high:g}, got {value!r}"
                )


@dataclass(frozen=True)
class Recommendations:
    """A ranked list of item indices with their scores, best first.

    Attributes
    ----------
    user
        The user's index in the training data; ``-1`` for a user given as a row (not in the
        model) and for item-to-item lists.
    items, scores
        Item indices and scores, same length, scores non-increasing.
    fallback
        ``None`` when the model itself produced the list; otherwise a sentence saying what it fell
        back to and why (e.g. a BPR model asked about a user it was not trained on).
    """

    user: int
    items: NDArray[np.int64]
    scores: NDArray[np.float32]
    fallback: str | None = None

    def __len__(self) -> int:
        return len(self.items)


def _batches(count: int, size: int = _BATCH) -> Iterator[slice]:
    for start in range(0, count, size):
        yield slice(start, min(start + size, count))


class Recommender(ABC):
    """Base class of every model; subclasses implement ``_fit`` and ``_score``.

    Conventions (scikit-learn's): ``__init__`` stores hyper-parameters unchanged, ``fit``
    validates them and returns ``self``, learned state ends with ``_``. Models see indices only;
    ids are translated by :class:`~timbre.interactions.Vocabulary`.

    A model is a ``@dataclass(eq=False, kw_only=True)``: its hyper-parameters are fields with
    their defaults (the generated ``__init__`` stores them unchanged), its learned state fields
    with ``init=False``. Its docstring describes it to the UI: the first line (less the final
    period) is its :attr:`title`, the next paragraph its :attr:`summary`.
    """

    #: Registry name (``als``, ``item-knn``, ...), the CLI's ``--model`` value.
    name: ClassVar[str]
    #: A short human title for the UI: the docstring's first line.
    title: ClassVar[str]
    #: What the model does, one or two sentences for the UI: the docstring's second paragraph.
    summary: ClassVar[str]
    #: Help text and ranges of the hyper-parameters (defaults come from ``__init__``).
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    #: Whether users outside the training data can be scored from their row.
    supports_new_users: ClassVar[bool] = True

    n_users_: int
    n_items_: int
    fingerprint_: str
    user_items_: sp.csr_matrix
    item_popularity_: NDArray[np.float32]
    #: The training data's user and item ids (row and column order); ``None`` for artifacts
    #: saved before they were kept.
    user_ids_: NDArray[np.object_] | None = None
    item_ids_: NDArray[np.object_] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Described once, in the docstring, as click describes a command by its docstring.
        super().__init_subclass__(**kwargs)
        title, _, body = inspect.cleandoc(cls.__doc__ or cls.__name__).partition("\n\n")
        cls.title = title.removesuffix(".")
        cls.summary = " ".join(body.partition("\n\n")[0].split())

    # ----- parameters -------------------------------------------------------------------
    @classmethod
    def param_specs(cls) -> tuple[ParamSpec, ...]:
        """Every hyper-parameter with its default, type, help text and range."""
        signature = inspect.signature(cls.__init__)
        specs = []
        for param in cls.PARAMS:
            default = signature.parameters[param.name].default
            specs.append(
                ParamSpec(
                    name=param.name,
                    help=param.help,
                    default=default,
                    kind=type(default),
                    choices=param.choices,
                    low=param.low,
                    high=param.high,
                    search=param.search,
                )
            )
        return tuple(specs)

    @classmethod
    def search_space(cls) -> dict[str, tuple[Any, ...]]:
        """The default tuning grid: each tuned parameter and the values to try (declared with
        the parameter, so every family is tuned from the same kind of declaration)."""
        return {spec.name: spec.search for spec in cls.param_specs() if spec.search}

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters as given to ``__init__``, in :attr:`PARAMS` order."""
        return {spec.name: getattr(self, spec.name) for spec in self.param_specs()}

    def _validate_params(self) -> None:
        for spec in self.param_specs():
            spec.validate(getattr(self, spec.name))

    # ----- training ---------------------------------------------------------------------
    def fit(self, data: InteractionData, progress: ProgressCallback | None = None) -> Self:
        """Learn from ``data.user_items``; ``progress`` is called with (fraction, message)."""
        self._validate_params()
        report = progress or _no_progress
        user_items = data.user_items
        if user_items.nnz == 0:
            raise DataError(f"data set {data.dataset!r} has no interactions to train on")
        self.n_users_, self.n_items_ = user_items.shape
        self.fingerprint_ = data.fingerprint
        self.user_ids_, self.item_ids_ = data.users.ids, data.items.ids
        self.user_items_ = sp.csr_matrix(user_items, dtype=np.float32)
        self.item_popularity_ = data.listeners.astype(np.float32)
        self._fit(data, report)
        report(1.0, "done")
        return self

    @abstractmethod
    def _fit(self, data: InteractionData, progress: ProgressCallback) -> None:
        """Learn the model's state from ``data``."""

    @abstractmethod
    def _score(self, user_rows: sp.csr_matrix, users: NDArray[np.int64]) -> NDArray[np.float32]:
        """Scores (rows x items) for users given by their rows; ``users`` holds their training
        indices, or ``-1`` for rows of users the model was not trained on."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "fingerprint_"):
            raise NotFittedError(f"the {self.name} model is not trained yet: call fit or load")

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "fingerprint_")

    # ----- scoring ----------------------------------------------------------------------
    def score(self, users: int | Sequence[int] | NDArray[np.integer]) -> NDArray[np.float32]:
        """Scores of every item for the given training users (rows), NaN rows for unknown ones.

        NaN also marks items the model has no opinion on (e.g. outside EASE's item cap).
        """
        self._check_fitted()
        index = np.atleast_1d(np.asarray(users, dtype=np.int64))
        known = (index >= 0) & (index < self.n_users_)
        if known.all() and len(index) <= _BATCH:  # one block, nothing to fill (the export)
            scores = self._score(self.user_items_[index], index)
            return np.asarray(scores, dtype=np.float32)
        out = np.full((len(index), self.n_items_), np.nan, dtype=np.float32)
        known_positions = np.flatnonzero(known)
        for part in _batches(len(known_positions)):
            rows = known_positions[part]
            out[rows] = self._score(self.user_items_[index[rows]], index[rows])
        return out

    def score_rows(self, user_items: sp.spmatrix) -> tuple[NDArray[np.float32], str | None]:
        """Scores for users the model was not trained on, given their rows over its items.

        Returns the scores and ``None``, or popularity scores and a sentence saying so when the
        model cannot score new users (it also warns with :class:`TimbreWarning`).
        """
        self._check_fitted()
        rows = self._check_rows(user_items)
        if not self.supports_new_users:
            message = (
                f"{self.title} cannot score users it was not trained on; "
                "showing the most popular items instead (retrain to include them)"
            )
            warnings.warn(message, TimbreWarning, stacklevel=2)
            return np.tile(self.item_popularity_, (rows.shape[0], 1)), message
        out = np.empty((rows.shape[0], self.n_items_), dtype=np.float32)
        for part in _batches(rows.shape[0]):
            count = part.stop - part.start
            out[part] = self._score(rows[part], np.full(count, -1, dtype=np.int64))
        return out, None

    def _check_rows(self, user_items: sp.spmatrix) -> sp.csr_matrix:
        rows = sp.csr_matrix(user_items, dtype=np.float32)
        if rows.shape[1] != self.n_items_:
            raise DataError(
                f"user rows have {rows.shape[1]} item columns; the model knows {self.n_items_}"
            )
        return rows

    def _check_user(self, user: int) -> int:
        if not 0 <= int(user) < self.n_users_:
            raise TimbreError(
                f"user index {user} is not in the model (it knows {self.n_users_} users)"
            )
        return int(user)

    def _check_item(self, item: int) -> int:
        self._check_fitted()
        if not 0 <= int(item) < self.n_items_:
            raise TimbreError(
                f"item index {item} is not in the model (it knows {self.n_items_} items)"
            )
        return int(item)

    # ----- recommending -----------------------------------------------------------------
    def recommend(
        self,
        user: int = -1,
        n: int = 10,
        exclude_seen: bool = True,
        user_items: sp.spmatrix | None = None,
    ) -> Recommendations:
        """The ``n`` best items for one user.

        Parameters
        ----------
        user
            The user's index in the training data. Ignored when ``user_items`` is given.
        n
            How many items.
        exclude_seen
            Leave out items the user already has in their row.
        user_items
            A one-row matrix over the model's items for a user the model was not trained on
            (e.g. a freshly imported account).

        Raises
        ------
        TimbreError
            When ``user`` is not in the model and no row is given.
        """
        self._check_fitted()
        fallback = None
        if user_items is not None:
            row = self._check_rows(user_items)
            if row.shape[0] != 1:
                raise DataError(f"user_items must have exactly one row, got {row.shape[0]}")
            scores, fallback = self.score_rows(row)
            user = -1
        else:
            user = self._check_user(user)
            row = self.user_items_[user]
            scores = self.score(user)
        items, values = top_n(scores[0], n, row.indices if exclude_seen else None)
        return Recommendations(user, items, values, fallback)

    def recommend_batch(
        self, users: Sequence[int] | NDArray[np.integer], n: int = 10, exclude_seen: bool = True
    ) -> list[Recommendations]:
        """:meth:`recommend` for many training users at once (same results, scored in batches)."""
        self._check_fitted()
        index = np.asarray(users, dtype=np.int64)
        for user in index:
            self._check_user(int(user))
        out: list[Recommendations] = []
        for part in _batches(len(index)):
            block = self.score(index[part])
            for offset, user in enumerate(index[part]):
                seen = self.user_items_[int(user)].indices if exclude_seen else None
                items, values = top_n(block[offset], n, seen)
                out.append(Recommendations(int(user), items, values))
        return out

    # ----- items ------------------------------------------------------------------------
    def similar_items(self, item: int, n: int = 10) -> Recommendations:
        """The ``n`` items most similar to ``item`` in this model's own space (itself left out)."""
        item = self._check_item(item)
        sims = self._item_similarity(item)
        items, values = top_n(sims, n, np.asarray([item]))
        return Recommendations(-1, items, values)

    @abstractmethod
    def _item_similarity(self, item: int) -> NDArray[np.float32]:
        """Similarity of one item to every item (NaN where the model has no opinion)."""

    def explain(
        self, user: int, item: int, n: int = 3, user_items: sp.spmatrix | None = None
    ) -> list[tuple[int, float]]:
        """The items in the user's row that contribute most to ``item``'s score, best first.

        Only items that add to the score are listed; ties go to the lower item index.

        Raises ``TimbreError`` for models that cannot attribute a score to listened items.
        """
        item = self._check_item(item)
        listened, contributions = self._contributions(self._user_row(user, user_items), item)
        order = np.lexsort((listened, -contributions))
        return [
            (int(listened[k]), float(contributions[k])) for k in order[:n] if contributions[k] > 0
        ]

    def _contributions(
        self, row: sp.csr_matrix, item: int
    ) -> tuple[NDArray[np.integer], NDArray[np.floating]]:
        """The items of a one-user ``row`` and how much each adds to ``item``'s score."""
        raise TimbreError(f"{self.title} cannot explain its recommendations")

    def _user_row(self, user: int, user_items: sp.spmatrix | None) -> sp.csr_matrix:
        if user_items is not None:
            row = self._check_rows(user_items)
            if row.shape[0] != 1:
                raise DataError(f"user_items must have exactly one row, got {row.shape[0]}")
            return row
        return self.user_items_[self._check_user(user)]

    # ----- persistence ------------------------------------------------------------------
    @abstractmethod
    def _arrays(self) -> dict[str, NDArray[Any]]:
        """The learned state as named arrays (no objects: saved without pickle)."""

    @abstractmethod
    def _restore(self, arrays: dict[str, NDArray[Any]], meta: dict[str, Any]) -> None:
        """Set the learned state from :meth:`_arrays` output."""

    def save(self, path: str | Path, metrics: dict[str, Any] | None = None) -> Path:
        """Write the model as ``path`` (``.npz``, no pickle) plus a ``.json`` sidecar, atomically.

        Both files are written to temporary names in the same folder and renamed, so a crash never
        leaves a half-written artifact under the final name. The sidecar records the SHA-256 of
        the ``.npz`` (``sha256``) and the shape and type of every array (``arrays``), which
        :meth:`load` checks.
        """
        self._check_fitted()
        import implicit

        import timbre

        target = Path(path)
        if target.suffix != ".npz":
            target = target.with_suffix(".npz")
        target.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, NDArray[Any]] = {
            "user_items.indptr": self.user_items_.indptr,
            "user_items.indices": self.user_items_.indices,
            "user_items.data": self.user_items_.data,
            "item_popularity": self.item_popularity_,
        }
        if self.user_ids_ is not None and self.item_ids_ is not None:
            arrays["users.ids"] = _encode_ids(self.user_ids_)
            arrays["items.ids"] = _encode_ids(self.item_ids_)
        for key, value in self._arrays().items():
            arrays[f"state.{key}"] = value
        digest = _atomic_write(
            target, lambda handle: np.savez(handle, allow_pickle=False, **arrays)
        )
        meta = {
            "format": ARTIFACT_FORMAT,
            "model": self.name,
            "params": self.get_params(),
            "fingerprint": self.fingerprint_,
            "n_users": self.n_users_,
            "n_items": self.n_items_,
            "timbre_version": timbre.__version__,
            "implicit_version": implicit.__version__,
            "metrics": metrics or {},
            "sha256": digest,
            "arrays": {
                name: {"shape": list(np.shape(value)), "dtype": np.asarray(value).dtype.str}
                for name, value in arrays.items()
            },
        }
        text = json.dumps(meta, indent=2, sort_keys=True)
        _atomic_write(sidecar_path(target), lambda handle: handle.write(text.encode()))
        log.info("saved %s model to %s", self.name, target)
        return target

    @classmethod
    def load(
        cls, path: str | Path, data: InteractionData | None = None, checksum: str | None = None
    ) -> Recommender:
        """Load a model saved by :meth:`save` (never unpickles), refusing a damaged one.

        Parameters
        ----------
        path
            The ``.npz`` file.
        data
            When given, the model must have been trained on exactly this data (same
            fingerprint); otherwise a ``TimbreError`` says so.
        checksum
            The SHA-256 the artifact must have (what the run registry recorded); the sidecar's
            own is checked in any case.

        Raises
        ------
        StorageError
            A missing, truncated or garbage file, one changed since it was written (checksum),
            arrays of the wrong shape or type, non-finite values, or state that does not fit
            the model's users and items: one line saying which.
        TimbreError
            The model was trained on other data than ``data``.
        """
        from timbre.models import model_class

        target = Path(path)
        meta = read_sidecar(target)
        klass = model_class(str(meta.get("model")))
        if cls is not Recommender and not issubclass(klass, cls):
            raise StorageError(f"{target.name} holds a {klass.name} model, not {cls.name}")
        if data is not None and meta.get("fingerprint") != data.fingerprint:
            raise TimbreError(
                f"the {klass.name} model in {target.name} was trained on different data "
                f"(fingerprint {meta.get('fingerprint')}; data set {data.dataset!r} is "
                f"{data.fingerprint}); retrain it on this data"
            )
        arrays = read_arrays(target, meta, checksum)
        try:
            model = klass(**meta.get("params", {}))
            model.n_users_, model.n_items_ = check_rows(target, meta, arrays)
            model.fingerprint_ = str(meta["fingerprint"])
            model.user_items_ = sp.csr_matrix(
                (
                    arrays["user_items.data"],
                    arrays["user_items.indices"],
                    arrays["user_items.indptr"],
                ),
                shape=(model.n_users_, model.n_items_),
            )
            model.item_popularity_ = arrays["item_popularity"]
            if "users.ids" in arrays and "items.ids" in arrays:
                model.user_ids_ = _decode_ids(arrays["users.ids"], model.n_users_)
                model.item_ids_ = _decode_ids(arrays["items.ids"], model.n_items_)
            state = {k[len("state.") :]: v for k, v in arrays.items() if k.startswith("state.")}
            model._restore(state, meta)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise damaged(target, f"is incomplete or damaged ({exc})") from None
        with warnings.catch_warnings(), one_blas_thread():
            warnings.simplefilter("ignore")
            check_scores(model, target)
        return model


_ID_SEPARATOR = "\x1f"


def _encode_ids(ids: NDArray[np.object_]) -> NDArray[np.uint8]:
    """Ids as one UTF-8 byte array (unit-separated): saved without pickle, compactly."""
    text = _ID_SEPARATOR.join(str(i) for i in ids)
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _decode_ids(encoded: NDArray[np.uint8], count: int) -> NDArray[np.object_]:
    """The ids :func:`_encode_ids` wrote; ``ValueError`` when there are not ``count`` of them."""
    text = encoded.tobytes().decode("utf-8")
    ids = np.asarray(text.split(_ID_SEPARATOR) if count else [], dtype=object)
    if len(ids) != count:
        raise ValueError(f"{len(ids)} ids saved for {count} rows or columns")
    return ids


def sidecar_path(path: str | Path) -> Path:
    """The JSON sidecar beside an artifact."""
    return Path(path).with_suffix(".json")


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The JSON sidecar of an artifact, checked for format; clear errors when missing/damaged."""
    target = Path(path)
    sidecar = sidecar_path(target)
    if not target.exists() or not sidecar.exists():
        raise StorageError(f"model artifact {target} (or its .json sidecar) is missing")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot read {sidecar}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != ARTIFACT_FORMAT:
        raise StorageError(f"{sidecar} is not a Timbre model sidecar (format {ARTIFACT_FORMAT})")
    return meta


def _atomic_write(target: Path, write: Callable[[Any], Any]) -> str:
    """:func:`timbre.atomic.atomic_write`, synced to disk; the SHA-256 of what was written."""
    atomic_write(target, write, sync=True)
    return artifact_checksum(target)
