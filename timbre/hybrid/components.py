"""Building a listener's components (cf, content, personality, novelty), each only when a
weight uses it: the engine's half that scores (:class:`ComponentSource`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache, cached_property, partial

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre import personality as pers
from timbre.errors import DataError
from timbre.features import CONTENT_AUDIO_FEATURES
from timbre.hybrid.fusion import component_needs
from timbre.hybrid.types import CONTENT_NOT_AVAILABLE, NO_HISTORY, Components, Scores
from timbre.hybrid.weights import COMPONENTS, DEFAULT_SCHEDULE, ScheduleRule, Weights
from timbre.interactions import InteractionData
from timbre.models import Recommender, create_model
from timbre.models.base import one_blas_thread


class ComponentSource:
    """Scores the components of listeners for one data set and CF model; the base of
    :class:`timbre.hybrid.engine.HybridEngine`, which sets these attributes."""

    data: InteractionData
    cf_model: Recommender
    profiles: dict[str, dict[str, float]]
    coefficients: pd.DataFrame
    listeners: NDArray[np.float64]
    novelty_raw: NDArray[np.float32]

    @cached_property
    def _no_profile(self) -> NDArray[np.float32]:
        """The personality scores of anyone without a profile (read-only zeros)."""
        zeros = np.zeros(self.data.n_items, dtype=np.float32)
        zeros.flags.writeable = False
        return zeros

    @cached_property
    def attribute_matrix(self) -> NDArray[np.float32]:
        """Items x the prior's attributes (built on first use: the personality component)."""
        attributes = pers.item_attributes(self.data.item_meta)
        return attributes.values[list(pers.ATTRIBUTES)].to_numpy(np.float32)

    @cached_property
    def content_model(self) -> Recommender | None:
        """The content model, fitted on first use; ``None`` when the data set has no audio
        features, tags or genres (the content component is then "not available": it adds
        nothing, and :attr:`content_note` says so on every list)."""
        if not self._may_have_content:
            return None
        try:
            return create_model("content").fit(self.data)
        except DataError:
            return None

    @cached_property
    def _may_have_content(self) -> bool:
        """Whether any item has an audio feature, a tag or a genre (cheap: no model fitted)."""
        return may_have_content(self.data.item_meta)

    @property
    def _content_missing(self) -> bool:
        """Known to have no content, without fitting anything."""
        built = "content_model" in self.__dict__
        return not self._may_have_content or (built and self.content_model is None)

    @property
    def content_note(self) -> str | None:
        """What a list says when this data set has no content component. Known without fitting
        the content model when no item has features; otherwise from the model once something
        needed it (until then the data set is taken to have content)."""
        if "content_model" not in self.__dict__ and self._may_have_content:
            return None
        return None if self.content_model is not None else CONTENT_NOT_AVAILABLE

    def needs(
        self,
        histories: Sequence[int] | NDArray[np.integer],
        weights: Weights,
        schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
    ) -> dict[str, NDArray[np.bool_]]:
        """:func:`timbre.hybrid.fusion.component_needs`, less content when the data set is
        known to have none (it would add nothing)."""
        needs = component_needs(histories, weights, schedule)
        if self._content_missing:
            needs.pop("content", None)
        return needs

    # ----- components ---------------------------------------------------------------------
    def personality_scores(self, z: Mapping[str, float] | None) -> NDArray[np.float32]:
        """The prior for a profile (zeros when there is none: it then adds nothing)."""
        if not z:
            return np.zeros(self.data.n_items, dtype=np.float32)
        weights = pers.attribute_weights(z, self.coefficients)
        return np.asarray(self.attribute_matrix @ weights.to_numpy(np.float32), np.float32)

    def components_for_user(self, user: int, z: Mapping[str, float] | None = None) -> Components:
        """Components of a training user (``z`` overrides their stored profile), each computed
        when first read."""
        return self.components_batch([user], [z], needs={})[0]

    def components_batch(
        self,
        users: Sequence[int] | NDArray[np.integer],
        zs: Sequence[Mapping[str, float] | None] | None = None,
        needs: Mapping[str, NDArray[np.bool_]] | None = None,
    ) -> list[Components]:
        """Components of many training users (exports and metrics).

        ``needs`` (:func:`timbre.hybrid.fusion.component_needs`) says per component which users'
        weights use it: the cf and content scores of those users are computed now, in one batch
        each; everything else only if something reads it. ``None`` (the default): every
        component for everyone, now (the metrics panel, whose weights change).
        """
        index = np.asarray(users, dtype=np.int64)
        rows = self.data.user_items[index]
        batch: dict[str, dict[int, NDArray[np.float32]]] = {"cf": {}, "content": {}}
        scorers: dict[str, Callable[[NDArray[np.int64]], NDArray[np.float32]]] = {
            "cf": self.cf_model.score,
            "content": self._content_of_users,
        }
        with one_blas_thread():
            for name, score in scorers.items():
                wanted = np.ones(len(index), bool) if needs is None else needs.get(name)
                if wanted is None or not wanted.any() or (name == "cf" and self._cf_pooled(needs)):
                    continue
                chosen = np.flatnonzero(wanted)
                batch[name] = dict(zip(chosen.tolist(), score(index[chosen]), strict=True))
        out = []
        for position, user in enumerate(index.tolist()):
            row = _row(rows, position)
            given = zs[position] if zs is not None else None
            z = given if given is not None else self.profiles.get(self.data.users.id(user))
            ready = {name: batch[name][position] for name in batch if position in batch[name]}
            later: dict[str, Callable[[], NDArray[np.float32]]] = {
                "cf": partial(self._cf_of_users, user),
                "content": partial(self._content_of_users, [user], single=True),
            }
            out.append(self._components(row, ready, later, z))
            out[-1].user = user
        if needs is None:
            for components in out:
                for name in COMPONENTS:
                    components.raw[name]
        return out

    def components_for_row(
        self, row: sp.spmatrix | None, z: Mapping[str, float] | None = None
    ) -> Components:
        """Components for a listener the models were not trained on: a row of plays over the
        data set's items (a fresh import, a seed list), or no row at all (a persona); each is
        computed when first read."""
        n = self.data.n_items
        matrix = sp.csr_matrix((1, n), dtype=np.float32) if row is None else sp.csr_matrix(row)
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        if matrix.nnz == 0:
            return self._components(matrix, {"content": np.full(n, np.nan, np.float32)}, {}, z)
        notes: list[str] = []

        def cf() -> NDArray[np.float32]:
            with one_blas_thread():
                scores, fallback = self.cf_model.score_rows(matrix)
            if fallback:
                notes.insert(0, fallback)
            return scores[0]

        def content() -> NDArray[np.float32]:
            with one_blas_thread():
                return self._content_scores(matrix, None)[0]

        return self._components(matrix, {}, {"cf": cf, "content": content}, z, notes)

    def _cf_pooled(self, needs: Mapping[str, NDArray[np.bool_]] | None) -> bool:
        """Whether a batch's CF rows are left to the pool (:mod:`timbre.hybrid.pool` scores
        its candidates only; a listener ranked exactly computes their row when read)."""
        return False

    def _cf_of_users(self, user: int) -> NDArray[np.float32]:
        with one_blas_thread():
            return self.cf_model.score([user])[0]

    def _content_of_users(
        self, users: Sequence[int] | NDArray[np.int64], single: bool = False
    ) -> NDArray[np.float32]:
        index = np.asarray(users, dtype=np.int64)
        with one_blas_thread():
            scores = self._content_scores(self.data.user_items[index], index)
        return scores[0] if single else scores

    def _content_scores(
        self, rows: sp.csr_matrix, users: NDArray[np.int64] | None
    ) -> NDArray[np.float32]:
        """Content scores of training ``users`` (or of new ``rows``); NaN (no content) when the
        data set has none."""
        model = self.content_model
        if model is None:
            return np.full((rows.shape[0], self.data.n_items), np.nan, dtype=np.float32)
        if users is not None:
            return model.score(users)
        return model.score_rows(rows)[0]

    def _components(
        self,
        row: sp.csr_matrix,
        ready: dict[str, NDArray[np.float32]],
        later: dict[str, Callable[[], NDArray[np.float32]]],
        z: Mapping[str, float] | None,
        notes: list[str] | None = None,
    ) -> Components:
        notes = [] if notes is None else notes
        history = len(row.indices)
        if history and self._content_missing:
            notes.append(CONTENT_NOT_AVAILABLE)
        if history == 0:
            ready["cf"] = self.listeners.astype(np.float32)
            notes.append(NO_HISTORY)
        ready["novelty"] = self.novelty_raw
        if z:
            later["personality"] = partial(self.personality_scores, z)
        else:  # no profile: zeros, shared (normalisation skips them)
            ready["personality"] = self._no_profile
        return Components(
            raw=Scores(ready, later),
            seen=row.indices.astype(np.int64),
            row=row,
            history=history,
            notes=notes,
        )


def may_have_content(item_meta: pd.DataFrame) -> bool:
    """Whether any item has an audio feature, a tag or a genre (what the content model needs;
    it may still find none usable, e.g. tags that no two items share)."""
    for column in CONTENT_AUDIO_FEATURES:
        if column in item_meta.columns and item_meta[column].notna().any():
            return True
    for column in ("tags", "genres"):
        values = item_meta[column] if column in item_meta.columns else ()
        if any(len(v) for v in values if isinstance(v, list | tuple | np.ndarray)):
            return True
    return False


def _row(rows: sp.csr_matrix, position: int) -> sp.csr_matrix:
    """Row ``position`` of a CSR block as a ``1 x n`` CSR matrix sharing its arrays."""
    start, end = int(rows.indptr[position]), int(rows.indptr[position + 1])
    indptr = np.array([0, end - start], dtype=rows.indptr.dtype)
    data, indices = rows.data[start:end], rows.indices[start:end]
    template = _row_template(rows.shape[1], rows.indptr.dtype)
    if set(template.__dict__) != _CSR_FIELDS:  # another scipy: the checked constructor
        return sp.csr_matrix((data, indices, indptr), shape=(1, rows.shape[1]))
    # The constructor checks the arrays (40 us a row, most of an export's per-user cost);
    # a slice of a valid CSR block is valid, so only the arrays of a checked row change.
    row: sp.csr_matrix = object.__new__(sp.csr_matrix)
    row.__dict__.update(template.__dict__, data=data, indices=indices, indptr=indptr)
    return row


#: The attributes of a scipy CSR matrix (scipy 1.17): what :func:`_row` sets.
_CSR_FIELDS = {"_shape", "maxprint", "indices", "indptr", "data"}


@cache
def _row_template(width: int, index_dtype: np.dtype) -> sp.csr_matrix:
    """An empty, checked ``1 x width`` CSR row."""
    return sp.csr_matrix(
        (np.zeros(0, np.float32), np.zeros(0, index_dtype), np.zeros(2, index_dtype)),
        shape=(1, width),
    )
