"""The hybrid engine: components of every item for a listener, and the one ranking path.

Every caller ranks through :meth:`HybridEngine.rank_prepared` (directly, or through ``rank`` /
``rank_many``): the Tune and Recommend pages, the CLI, the all-listeners export and the metrics
panel, so what is measured is what is shown (same candidate pool, same cold-start schedule,
same MMR space).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre import personality as pers
from timbre import spaces
from timbre.errors import DataError, ParameterError, TimbreError
from timbre.hybrid import pool as index_pool
from timbre.hybrid.catalogue import blocklisted, item_tags
from timbre.hybrid.components import ComponentSource
from timbre.hybrid.fusion import fuse
from timbre.hybrid.group import rank_group
from timbre.hybrid.mmr import mmr_rows
from timbre.hybrid.normalization import Normalization, check_normalization, normalize_rows
from timbre.hybrid.reasons import because_rows
from timbre.hybrid.types import (
    CONTENT_NOT_AVAILABLE,
    FEEDBACK_NEIGHBOURS,
    FEEDBACK_WEIGHT,
    MMR_SPACES,
    POOL,
    REASON_SPACE,
    Aggregate,
    Components,
    Exclusions,
    Filters,
    MMRSpace,
    Prepared,
    Ranking,
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
from timbre.models import Recommender, ann
from timbre.models.base import top_n, top_n_rows


class HybridEngine(ComponentSource):
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
    ann_min_items
        From this many items (default :data:`timbre.models.ann.ANN_MIN_ITEMS`), with a factor
        model, the pools are drawn from an approximate index (:mod:`timbre.hybrid.pool`).
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
        ann_min_items: int | None = None,
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
        self.ann_min_items = ann.ANN_MIN_ITEMS if ann_min_items is None else ann_min_items
        self.profiles = {k: dict(v) for k, v in (profiles or {}).items()}
        self.coefficients = pers.default_coefficients() if coefficients is None else coefficients
        self.listeners = data.listeners
        self.novelty_raw = (-np.log2(np.maximum(self.listeners, 1.0) / data.n_users)).astype(
            np.float32
        )

    def _cf_pooled(self, needs: Mapping[str, NDArray[np.bool_]] | None) -> bool:
        return needs is not None and index_pool.applies(self)

    @cached_property
    def mmr_space(self) -> spaces.VectorSpace:
        """Where the diversity bonus measures similarity (built on first use)."""
        return spaces.space(self.data, "items", self.space)

    @cached_property
    def reason_space(self) -> spaces.VectorSpace:
        """The space of the reasons and of the feedback's neighbours (built on first use)."""
        return spaces.space(self.data, "items", REASON_SPACE)

    @cached_property
    def blocklisted(self) -> NDArray[np.bool_]:
        """Items whose name or artist holds a word of the presenter-safe blocklist."""
        return blocklisted(self.data.item_meta)

    @cached_property
    def item_tags(self) -> list[set[str]]:
        """Lower-cased tags and genres of every item (built on first use: the tag filters)."""
        return item_tags(self.data)

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
        return self._exclusions(members, filters).masks(len(members))

    def _exclusions(self, members: Sequence[Components], filters: Filters) -> Exclusions:
        """What ``filters`` leave out: items for everyone, and (row, item) pairs (heard,
        blocked or skipped)."""
        parts = [
            np.concatenate([c.seen, c.barred]) if filters.exclude_seen else c.barred
            for c in members
        ]
        rows = np.repeat(np.arange(len(members)), [len(p) for p in parts])
        items = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        return Exclusions(self.item_mask(filters), rows, items)

    # ----- normalisation ------------------------------------------------------------------
    def normalized(self, components: Components) -> dict[str, NDArray[np.float32]]:
        """Each component normalised over the whole catalogue (so a filter or a heard item does
        not shift the scale); every one of :data:`COMPONENTS` (zeros for one that adds
        nothing, such as personality without a profile)."""
        parts = self.normalized_batch([components])
        zeros = np.zeros(self.data.n_items, dtype=np.float32)
        return {name: parts[name][0] if name in parts else zeros.copy() for name in COMPONENTS}

    def normalized_batch(
        self,
        members: Sequence[Components],
        needed: Collection[str] | Mapping[str, NDArray[np.bool_]] = COMPONENTS,
    ) -> dict[str, NDArray[np.float32]]:
        """:meth:`normalized` for many listeners: ``len(members) x n_items`` per component.

        Only the ``needed`` components are computed and normalised (a mapping: only for the
        members it marks, the other rows stay 0); the others are left out, as is a needed one
        that adds nothing for anyone (personality when no member has a profile). Novelty is the same
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
            if name == "personality":  # no profile: zeros, left at zero
                who = np.asarray(
                    [p for p in who.tolist() if members[p].raw[name] is not self._no_profile],
                    dtype=np.int64,
                )
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
        excluded = self._exclusions(members, filters or Filters())
        wanted = _wanted(needed, len(members))
        parts = self.normalized_batch(members, wanted)
        return Prepared(tuple(members), parts, excluded.masks(len(members)), wanted, excluded)

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
        if prepared.columns is not None:  # a pool from the index: columns are its candidates
            pools = [(prepared.columns[r][p], v) for r, (p, v) in enumerate(pools)]
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
        return self._select(prepared, picks, chosen, reasons_of)

    def _cover(
        self,
        prepared: Prepared,
        weights: Weights,
        schedule: Sequence[ScheduleRule] | None,
    ) -> Prepared:
        """``prepared`` with every component row these weights need normalised."""
        needs = self.needs([c.history for c in prepared.members], weights, schedule)
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
                columns = prepared.columns
                fused[row] += (
                    components.adjust if columns is None else components.adjust[columns[row]]
                )
        if prepared.excluded is not None:  # the same items as the masks, without a pass
            prepared.excluded.apply(fused)
        else:
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
        pooled = index_pool.rank_pooled(
            self, members, weights, n, filters, schedule, reasons, reason_lists
        )
        if pooled is not None:  # a large catalogue: candidates from the index
            return pooled
        needs = self.needs([c.history for c in members], weights, schedule)
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
            pooled = index_pool.rank_pooled(
                self, [components], weights, n, filters, schedule, reasons
            )
            if pooled is not None:  # a large catalogue: candidates from the index
                return pooled[0]
            needs = self.needs([components.history], weights, schedule)
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
        picks: Sequence[tuple[NDArray[np.int64], NDArray[np.float32]]],
        chosen: Sequence[tuple[Weights, str]],
        reasons: Sequence[tuple[list[list[int]], NDArray[np.int64] | None]],
    ) -> list[Ranking]:
        """Every listener's ranking from their MMR picks: each component's contribution
        (weight x normalised score) and the diversity bonus, gathered for all listeners at
        once, added up in the same order as one listener's, and the reasons."""
        count = len(prepared.members)
        width = max((len(p) for p, _ in picks), default=0)
        index = np.zeros((count, width), dtype=np.int64)
        bonus = np.zeros((count, width), dtype=np.float32)
        for row, (picked, bonuses) in enumerate(picks):
            index[row, : len(picked)], bonus[row, : len(picked)] = picked, bonuses
        every = np.arange(count)[:, None]
        at = index if prepared.columns is None else _positions(prepared.columns, index)
        parts = {name: np.zeros((count, width), dtype=np.float32) for name in COMPONENTS}
        parts["diversity_bonus"] = np.empty((count, width), dtype=np.float32)
        for weights in {w for w, _ in chosen}:
            rows = np.asarray([r for r, (w, _) in enumerate(chosen) if w == weights])
            for name in COMPONENTS:
                if (w := getattr(weights, name)) and name in prepared.parts:
                    values = prepared.parts[name][every[rows], at[rows]]
                    parts[name][rows] = np.float32(w) * values
            parts["diversity_bonus"][rows] = np.float32(weights.diversity) * bonus[rows]
        total = parts[COMPONENTS[0]].copy()
        for name in (*COMPONENTS[1:], "diversity_bonus"):
            total += parts[name]  # as np.sum over one listener's parts: in this order
        out = []
        for row, (picked, _) in enumerate(picks):
            (weights, rule), components = chosen[row], prepared.members[row]
            size = len(picked)
            if size == 0:
                out.append(empty_ranking(weights, rule, components))
                continue
            contributions = {name: values[row, :size] for name, values in parts.items()}
            scores = total[row, :size]
            if components.adjust is not None:
                contributions["feedback"] = components.adjust[picked].astype(np.float32)
                scores = scores + contributions["feedback"]
            because, table = reasons[row]
            notes = tuple(components.notes)
            out.append(Ranking(picked, scores, contributions, because, weights, rule, notes, table))
        return out

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
        normalised (min-max) and averaged over the parts switched on.

        On a catalogue past :data:`timbre.models.ann.ANN_MIN_ITEMS` with a factor model, the
        candidates are the approximate index's nearest by CF (then scored exactly, each part
        normalised over them); otherwise every item."""
        if not (use_cf or use_content):
            raise ParameterError("switch on at least one of CF and content similarity")
        if use_content and self.content_model is None and not use_cf:
            raise ParameterError(CONTENT_NOT_AVAILABLE + ": use CF similarity")
        content = self.content_model if use_content else None
        models = [m for m in (self.cf_model if use_cf else None, content) if m is not None]
        finder = getattr(self.cf_model, "similar_candidates", None)
        candidates = finder(int(item), n + 1) if use_cf and finder is not None else None
        if candidates is None:
            rows = np.vstack([m._item_similarity(int(item)) for m in models])
            total = normalize_rows(rows).mean(axis=0)
            return top_n(total, n, np.asarray([int(item)]))
        rows = np.vstack(
            [
                m.similarity_to(int(item), candidates)  # type: ignore[attr-defined]
                if m is self.cf_model
                else m._item_similarity(int(item))[candidates]
                for m in models
            ]
        )
        total = normalize_rows(rows).mean(axis=0)
        keep, values = top_n(total, n, np.flatnonzero(candidates == int(item)))
        return candidates[keep], values

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


def _positions(columns: NDArray[np.int64], items: NDArray[np.int64]) -> NDArray[np.int64]:
    """The column of each of ``items`` in its row of ``columns`` (ascending per row)."""
    return np.stack(
        [np.searchsorted(row, wanted) for row, wanted in zip(columns, items, strict=True)]
    ).reshape(items.shape)


def _wanted(
    needed: Collection[str] | Mapping[str, NDArray[np.bool_]], count: int
) -> dict[str, NDArray[np.bool_]]:
    """Per needed component, which of ``count`` members need it."""
    if isinstance(needed, Mapping):
        return {name: np.asarray(rows, dtype=bool) for name, rows in needed.items()}
    return {name: np.ones(count, dtype=bool) for name in needed}


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
