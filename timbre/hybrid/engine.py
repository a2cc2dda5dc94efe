"""The hybrid engine: components of every item for a listener, and the one ranking path.

Every caller ranks through :meth:`HybridEngine.rank_prepared` (directly, or through ``rank`` /
``rank_many``): the Tune and Recommend pages, the CLI, the all-listeners export and the metrics
panel, so what is measured is what is shown (same candidate pool, same cold-start schedule,
same MMR space).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from functools import cache, cached_property, partial

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre import personality as pers
from timbre import spaces
from timbre.errors import DataError, ParameterError, TimbreError
from timbre.features import CONTENT_AUDIO_FEATURES
from timbre.hybrid.catalogue import blocklisted, item_tags
from timbre.hybrid.fusion import component_needs, fuse
from timbre.hybrid.group import rank_group
from timbre.hybrid.mmr import mmr_rows
from timbre.hybrid.normalization import Normalization, check_normalization, normalize_rows
from timbre.hybrid.reasons import because_rows
from timbre.hybrid.types import (
    CONTENT_NOT_AVAILABLE,
    FEEDBACK_NEIGHBOURS,
    FEEDBACK_WEIGHT,
    MMR_SPACES,
    NO_HISTORY,
    POOL,
    REASON_SPACE,
    Aggregate,
    Components,
    Filters,
    MMRSpace,
    Prepared,
    Ranking,
    Scores,
    empty_ranking,
)
from timbre.hybrid.weights import (
    CHOSEN,
    COMPONENTS,
    DEFAULT_SCHEDULE,
    ScheduleRule,
    Weights,
    schedule_weights,
)
from timbre.interactions import InteractionData
from timbre.models import Recommender, create_model
from timbre.models.base import one_blas_thread, top_n, top_n_rows


class HybridEngine:
    """Everything the hybrid score needs for one data set and one CF model, computed once.

    Parameters
    ----------
    data
        The data set (the CF model must have been trained on it).
    cf_model
        A fitted model; its scores are the ``cf`` component.
    profiles
        Trait z-scores by user id (``timbre.personality.trait_z``) for users with a profile.
    coefficients
        The personality prior's table (default: the shipped one).
    normalization
        How components are scaled before fusion (``minmax``, ``rank``, ``zscore``).
    space
        Where the diversity bonus (MMR) measures similarity: one of :data:`MMR_SPACES`
        (see :mod:`timbre.spaces`).
    pool
        MMR re-ranks the best ``pool`` items by fused score (at least 2 x n).
    """

    def __init__(
        self,
        data: InteractionData,
        cf_model: Recommender,
        profiles: Mapping[str, Mapping[str, float]] | None = None,
        coefficients: pd.DataFrame | None = None,
        normalization: Normalization = "minmax",
        space: MMRSpace = "svd",
        pool: int = POOL,
    ) -> None:
        check_normalization(normalization)
        spaces.check_space(space, MMR_SPACES)
        if cf_model.fingerprint_ != data.fingerprint:
            raise TimbreError(
                f"the {cf_model.name} model was trained on other data than {data.dataset!r}; "
                "retrain it"
            )
        self.data = data
        self.cf_model = cf_model
        self.normalization = normalization
        self.space = space
        self.pool = pool
        self.profiles = {k: dict(v) for k, v in (profiles or {}).items()}
        self.coefficients = pers.default_coefficients() if coefficients is None else coefficients
        self.listeners = data.listeners
        self.novelty_raw = (-np.log2(np.maximum(self.listeners, 1.0) / data.n_users)).astype(
            np.float32
        )

    @cached_property
    def attribute_matrix(self) -> NDArray[np.float32]:
        """Items x the prior's attributes (built on first use: the personality component)."""
        attributes = pers.item_attributes(self.data.item_meta)
        return attributes.values[list(pers.ATTRIBUTES)].to_numpy(np.float32)

    @cached_property
    def mmr_space(self) -> spaces.VectorSpace:
        """Where the diversity bonus measures similarity (built on first use)."""
        return spaces.space(self.data, "items", self.space)

    @cached_property
    def reason_space(self) -> spaces.VectorSpace:
        """The space of the reasons and of the feedback's neighbours (built on first use)."""
        return spaces.space(self.data, "items", REASON_SPACE)

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

    @cached_property
    def blocklisted(self) -> NDArray[np.bool_]:
        """Items whose name or artist holds a word of the presenter-safe blocklist."""
        return blocklisted(self.data.item_meta)

    @cached_property
    def item_tags(self) -> list[set[str]]:
        """Lower-cased tags and genres of every item (built on first use: the tag filters)."""
        return item_tags(self.data)

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
                if wanted is None or not wanted.any():
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
        later["personality"] = partial(self.personality_scores, z)
        return Components(
            raw=Scores(ready, later),
            seen=row.indices.astype(np.int64),
            row=row,
            history=history,
            notes=notes,
        )

    # ----- what may be recommended --------------------------------------------------------
    def item_mask(self, filters: Filters) -> NDArray[np.bool_]:
        """Items ``filters`` allow for anyone (tags, listener counts; not "heard")."""
        mask = np.ones(self.data.n_items, dtype=bool)
        if filters.min_listeners:
            mask &= self.listeners >= filters.min_listeners
        if filters.max_listeners is not None:
            mask &= self.listeners <= filters.max_listeners
        if filters.presenter_safe:
            mask &= ~self.blocklisted
        if filters.include_tags or filters.exclude_tags:
            include = {t.lower() for t in filters.include_tags}
            exclude = {t.lower() for t in filters.exclude_tags}
            for i in np.flatnonzero(mask):
                tags = self.item_tags[i]
                if (include and not include & tags) or (exclude & tags):
                    mask[i] = False
        return mask

    def allowed(self, components: Components, filters: Filters) -> NDArray[np.bool_]:
        """Items that may be recommended to this listener under ``filters``."""
        return self._masks([components], filters)[0]

    def _masks(self, members: Sequence[Components], filters: Filters) -> NDArray[np.bool_]:
        masks = np.tile(self.item_mask(filters), (len(members), 1))
        for row, components in enumerate(members):
            if filters.exclude_seen:
                masks[row, components.seen] = False
            masks[row, components.barred] = False
        return masks

    # ----- normalisation ------------------------------------------------------------------
    def normalized(self, components: Components) -> dict[str, NDArray[np.float32]]:
        """Each component normalised over the whole catalogue (so a filter or a heard item does
        not shift the scale)."""
        return {name: rows[0] for name, rows in self.normalized_batch([components]).items()}

    def normalized_batch(
        self,
        members: Sequence[Components],
        needed: Collection[str] | Mapping[str, NDArray[np.bool_]] = COMPONENTS,
    ) -> dict[str, NDArray[np.float32]]:
        """:meth:`normalized` for many listeners: ``len(members) x n_items`` per component.

        Only the ``needed`` components are computed and normalised (a mapping: only for the
        members it marks, the other rows stay 0); the others are left out. Novelty is the same
        for everyone (normalised once); all-zero personality rows (no profile) stay zero.
        """
        count, n = len(members), self.data.n_items
        wanted = _wanted(needed, count)
        out: dict[str, NDArray[np.float32]] = {}
        for name in COMPONENTS:
            if name not in wanted:
                continue
            if name == "novelty":
                once = normalize_rows(self.novelty_raw[None, :], None, self.normalization)
                out[name] = np.broadcast_to(once, (count, n))
                continue
            who = np.flatnonzero(wanted[name])
            rows = np.stack([members[p].raw[name] for p in who.tolist()]) if len(who) else None
            if rows is None:
                continue
            # all-zero rows (no profile) stay zero; min-max maps them to zero anyway
            live = (
                np.ones(len(who), dtype=bool)
                if self.normalization == "minmax"
                else np.any(rows != 0, axis=1) | np.any(np.isnan(rows), axis=1)
            )
            if live.all() and len(who) == count:
                out[name] = normalize_rows(rows, None, self.normalization)
                continue
            result = np.zeros((count, n), dtype=np.float32)
            if live.any():
                result[who[live]] = normalize_rows(rows[live], None, self.normalization)
            out[name] = result
        return out

    # ----- the one ranking path -----------------------------------------------------------
    def prepare(
        self,
        members: Sequence[Components],
        filters: Filters | None = None,
        needed: Collection[str] | Mapping[str, NDArray[np.bool_]] = COMPONENTS,
    ) -> Prepared:
        """Normalise the members' components (the ``needed`` ones) and work out the items each
        may get."""
        masks = self._masks(members, filters or Filters())
        wanted = _wanted(needed, len(members))
        parts = self.normalized_batch(members, wanted)
        return Prepared(tuple(members), parts, masks, wanted)

    def rank_prepared(
        self,
        prepared: Prepared,
        weights: Weights,
        n: int = 10,
        schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
        reasons: int = 3,
        reason_lists: bool = True,
    ) -> list[Ranking]:
        """Rank every prepared listener: the schedule's weights for their history, fusion, the
        best ``pool`` items by fused score, MMR, contributions and reasons (``reason_lists``
        False: in :attr:`Ranking.reason_items` only, as the export reads them).

        Fusion, the pools, MMR and the reasons are computed for all listeners at once (MMR one
        greedy step for all a time). A listener with no item left gets an empty ranking. A
        component the weights need that ``prepared`` lacks is normalised first.
        """
        if n < 1:
            raise ParameterError(f"n must be at least 1, got {n}")
        chosen = [schedule_weights(c.history, weights, schedule) for c in prepared.members]
        prepared = self._cover(prepared, weights, schedule)
        rule_weights = [w for w, _ in chosen]
        pools = top_n_rows(self._fused(prepared, rule_weights), max(self.pool, 2 * n))
        picks: list[tuple[NDArray[np.int64], NDArray[np.float32]]] = [pool for pool in pools]
        for diversity in {w.diversity for w in rule_weights}:
            rows = [r for r, w in enumerate(rule_weights) if w.diversity == diversity]
            space = self.mmr_space if diversity else None
            picked = mmr_rows([pools[r] for r in rows], space, diversity, n)
            for r, pick in zip(rows, picked, strict=True):
                picks[r] = pick
        members = prepared.members
        no_reasons: tuple[list[list[int]], NDArray[np.int64] | None] = ([], None)
        rows = [c.row for c in members]
        reasons_of = (
            because_rows(self.reason_space, rows, [p for p, _ in picks], reasons, reason_lists)
            if reasons
            else [no_reasons] * len(members)
        )
        return [
            self._select(prepared, row, picks[row], chosen[row], reasons_of[row])
            for row in range(len(members))
        ]

    def _cover(
        self,
        prepared: Prepared,
        weights: Weights,
        schedule: Sequence[ScheduleRule] | None,
    ) -> Prepared:
        """``prepared`` with every component row these weights need normalised."""
        needs = component_needs([c.history for c in prepared.members], weights, schedule)
        ready = prepared.ready
        if ready is None:
            missing = {name: rows for name, rows in needs.items() if name not in prepared.parts}
        else:
            missing = {
                name: rows | ready[name] if name in ready else rows
                for name, rows in needs.items()
                if name not in ready or (rows & ~ready[name]).any()
            }
        if not missing:
            return prepared
        parts = {**prepared.parts, **self.normalized_batch(prepared.members, missing)}
        everyone = np.ones(len(prepared), dtype=bool)
        done = {name: everyone for name in prepared.parts} if ready is None else dict(ready)
        return replace(prepared, parts=parts, ready={**done, **missing})

    def _fused(self, prepared: Prepared, chosen: list[Weights]) -> NDArray[np.float32]:
        """Every listener's fused scores under their weights; -inf where an item is not allowed."""
        groups = set(chosen)
        if len(groups) == 1:  # the usual case: no slicing copies
            fused = fuse(prepared.parts, chosen[0], prepared.masks.shape)
        else:
            fused = np.empty(prepared.masks.shape, dtype=np.float32)
            for group in groups:
                rows = [r for r, w in enumerate(chosen) if w == group]
                parts = {c: v[rows] for c, v in prepared.parts.items() if getattr(group, c)}
                fused[rows] = fuse(parts, group, (len(rows), prepared.masks.shape[1]))
        for row, components in enumerate(prepared.members):
            if components.adjust is not None:
                fused[row] += components.adjust
        np.copyto(fused, np.float32(-np.inf), where=~prepared.masks)
        return fused

    def rank_many(
        self,
        members: Sequence[Components],
        weights: Weights,
        n: int = 10,
        filters: Filters | None = None,
        schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
        reasons: int = 3,
        reason_lists: bool = True,
    ) -> list[Ranking]:
        """:meth:`rank_prepared` of :meth:`prepare` (several listeners at once), computing and
        normalising only the components each member's weights (after the schedule) use."""
        needs = component_needs([c.history for c in members], weights, schedule)
        prepared = self.prepare(members, filters, needs)
        return self.rank_prepared(prepared, weights, n, schedule, reasons, reason_lists)

    def rank(
        self,
        components: Components,
        weights: Weights,
        n: int = 10,
        filters: Filters | None = None,
        schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
        normalized: Mapping[str, NDArray[np.float32]] | None = None,
        reasons: int = 3,
    ) -> Ranking:
        """One listener's ranking (:meth:`rank_prepared` of one), computing only the components
        the weights use.

        ``normalized`` may be passed from :meth:`normalized` to re-rank after a weight change
        without normalising again (the live Tune page).

        Raises
        ------
        DataError
            When the filters leave no item to recommend.
        """
        masks = self._masks([components], filters or Filters())
        if not masks[0].any():
            raise DataError("no item is left to recommend under these filters")
        if normalized is None:
            needs = component_needs([components.history], weights, schedule)
            prepared = Prepared(
                (components,), self.normalized_batch([components], needs), masks, needs
            )
        else:
            parts = {name: np.asarray(v)[None, :] for name, v in normalized.items()}
            prepared = Prepared((components,), parts, masks)
        return self.rank_prepared(prepared, weights, n, schedule, reasons)[0]

    def _select(
        self,
        prepared: Prepared,
        row: int,
        pick: tuple[NDArray[np.int64], NDArray[np.float32]],
        chosen: tuple[Weights, str],
        reasons: tuple[list[list[int]], NDArray[np.int64] | None],
    ) -> Ranking:
        """A listener's ranking from their MMR picks: contributions and reasons."""
        (weights, rule), components = chosen, prepared.members[row]
        picked, bonus = pick
        if len(picked) == 0:
            return empty_ranking(weights, rule, components)
        contributions = {
            name: np.float32(w) * prepared.parts[name][row, picked]
            if (w := getattr(weights, name))
            else np.zeros(len(picked), dtype=np.float32)
            for name in COMPONENTS
        }
        contributions["diversity_bonus"] = np.float32(weights.diversity) * bonus
        if components.adjust is not None:
            contributions["feedback"] = components.adjust[picked].astype(np.float32)
        scores = np.asarray(np.sum(list(contributions.values()), axis=0), dtype=np.float32)
        notes = tuple(components.notes)
        because, table = reasons
        return Ranking(picked, scores, contributions, because, weights, rule, notes, table)

    def because(self, row: sp.csr_matrix, items: NDArray[np.int64], k: int = 3) -> list[list[int]]:
        """Up to ``k`` listened items most similar to each item (co-listening neighbours,
        weighted by how much they were played)."""
        return because_rows(self.reason_space, [row], [items], k)[0][0]

    def with_feedback(
        self,
        components: Components,
        liked: Sequence[int],
        skipped: Sequence[int],
        blocked: Sequence[int],
        strength: float = FEEDBACK_WEIGHT,
        neighbours: int = FEEDBACK_NEIGHBOURS,
    ) -> Components:
        """A listener's components after their feedback: skipped and blocked items are never
        listed again; each like raises and each skip lowers the item's ``neighbours`` nearest
        items (co-listening space) by ``strength`` x their similarity, in fused-score units
        (the original design's +-5% per reaction). Likes also join the row (fold-in) before
        this is called."""
        if strength < 0:
            raise ParameterError(f"the feedback weight must be >= 0, got {strength}")
        adjust = np.zeros(self.data.n_items, dtype=np.float32)
        for sign, items in ((1.0, liked), (-1.0, skipped)):
            for item in items:
                near, sims = self.reason_space.nearest(int(item), neighbours)
                keep = np.isfinite(sims) & (sims > 0)
                adjust[near[keep]] += np.float32(sign * strength) * sims[keep]
        barred = np.unique(np.asarray([*skipped, *blocked], dtype=np.int64))
        return replace(components, adjust=adjust, barred=barred)

    # ----- more modes ---------------------------------------------------------------------
    def seed_row(self, seeds: Sequence[int]) -> sp.csr_matrix:
        """A listener row from a seed sequence; later seeds weigh more (1, 2, ...)."""
        if not seeds:
            raise DataError("next-track needs at least one seed item")
        weights: dict[int, float] = {}
        for position, item in enumerate(seeds, start=1):
            weights[int(item)] = weights.get(int(item), 0.0) + float(position)
        items = np.fromiter(weights, dtype=np.int64)
        return sp.csr_matrix(
            (np.fromiter(weights.values(), dtype=np.float32), (np.zeros(len(items)), items)),
            shape=(1, self.data.n_items),
        )

    def next_tracks(
        self, seeds: Sequence[int], weights: Weights, n: int = 10, filters: Filters | None = None
    ) -> Ranking:
        """What to play after a sequence of items (no user needed; the seeds are excluded)."""
        components = self.components_for_row(self.seed_row(seeds))
        no_personality = (
            replace(weights, personality=0.0)
            if (weights.cf or weights.content or weights.novelty)
            else weights
        )
        return self.rank(components, no_personality, n, filters, schedule=None)

    def similar(
        self, item: int, n: int = 10, use_cf: bool = True, use_content: bool = True
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Items similar to ``item``: the CF model's similarity and content cosine, each
        normalised (min-max) and averaged over the parts switched on."""
        if not (use_cf or use_content):
            raise ParameterError("switch on at least one of CF and content similarity")
        if use_content and self.content_model is None and not use_cf:
            raise ParameterError(CONTENT_NOT_AVAILABLE + ": use CF similarity")
        content = self.content_model
        models = [m for m, on in ((self.cf_model, use_cf), (content, use_content)) if on and m]
        rows = np.vstack([m._item_similarity(int(item)) for m in models])
        total = normalize_rows(rows, np.ones(rows.shape, dtype=bool)).mean(axis=0)
        return top_n(total, n, np.asarray([int(item)]))

    def group(
        self,
        users: Sequence[int],
        weights: Weights,
        n: int = 10,
        aggregate: Aggregate = "average",
        filters: Filters | None = None,
    ) -> tuple[Ranking, pd.DataFrame]:
        """A blend for several users (:func:`timbre.hybrid.group.rank_group`): each member's
        fused scores (normalised), aggregated by ``average`` or ``least-misery``; items any
        member heard are excluded. Returns the ranking and each member's score for its items."""
        return rank_group(self, users, weights, n, aggregate, filters)


__all__ = [
    "CHOSEN",
    "MMR_SPACES",
    "Aggregate",
    "Components",
    "Filters",
    "HybridEngine",
    "MMRSpace",
    "Prepared",
    "Ranking",
    "fuse",
]


def _wanted(
    needed: Collection[str] | Mapping[str, NDArray[np.bool_]], count: int
) -> dict[str, NDArray[np.bool_]]:
    """Per needed component, which of ``count`` members need it."""
    if isinstance(needed, Mapping):
        return {name: np.asarray(rows, dtype=bool) for name, rows in needed.items()}
    return {name: np.ones(count, dtype=bool) for name in needed}


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
