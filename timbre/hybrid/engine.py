"""The hybrid engine: components of every item for a listener, and the one ranking path.

Every caller ranks through :meth:`HybridEngine.rank_prepared` (directly, or through ``rank`` /
``rank_many``): the Tune and Recommend pages, the CLI, the all-listeners export and the metrics
panel, so what is measured is what is shown (same candidate pool, same cold-start schedule,
same MMR space).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre import personality as pers
from timbre import spaces
from timbre.errors import DataError, ParameterError, TimbreError
from timbre.hybrid.mmr import mmr
from timbre.hybrid.normalization import Normalization, check_normalization, normalize_rows
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
from timbre.records import name_key

#: Spaces the diversity bonus (MMR) can measure similarity in (no trained model needed).
MMRSpace = Literal["svd", "binary", "interactions", "content"]
MMR_SPACES: tuple[str, ...] = get_args(MMRSpace)
#: How a group's member scores are combined.
Aggregate = Literal["average", "least-misery"]
#: The space of the "because you listened to" reasons: co-listening, fast.
REASON_SPACE: spaces.SpaceName = "svd"
#: How much one like or skip moves an item's nearest neighbours (fused-score units; the first
#: design's +-5% per reaction), and how many neighbours it moves.
FEEDBACK_WEIGHT = 0.05
FEEDBACK_NEIGHBOURS = 5
#: MMR re-ranks the best ``POOL`` items by fused score (at least 2 x n).
POOL = 100
NO_HISTORY = "no history: the cf component is item popularity"
CONTENT_NOT_AVAILABLE = (
    "content: not available (this data set has no audio features, tags or genres)"
)


@dataclass
class Components:
    """Raw component scores of every item for one listener (a user, a seed list, a persona)."""

    raw: dict[str, NDArray[np.float32]]
    seen: NDArray[np.int64]
    row: sp.csr_matrix
    history: int
    notes: list[str] = field(default_factory=list)
    #: Added to the fused score after fusion (the listener's feedback: see
    #: :meth:`HybridEngine.with_feedback`); its share of a listed item is the ``feedback``
    #: contribution.
    adjust: NDArray[np.float32] | None = None
    #: Items never recommended to this listener (blocked or skipped), whatever the filters.
    barred: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))


@dataclass(frozen=True)
class Filters:
    """Which items may be recommended."""

    exclude_seen: bool = True
    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    min_listeners: int = 0
    max_listeners: int | None = None
    #: Hide items whose name or artist holds a word of the presenter-safe blocklist.
    presenter_safe: bool = False

    def text(self) -> str:
        """What the filters do, for provenance lines."""
        parts = ["heard items left out" if self.exclude_seen else "heard items kept"]
        if self.include_tags:
            parts.append("only tags " + ", ".join(self.include_tags))
        if self.exclude_tags:
            parts.append("never tags " + ", ".join(self.exclude_tags))
        if self.min_listeners:
            parts.append(f"at least {self.min_listeners} listeners")
        if self.max_listeners is not None:
            parts.append(f"at most {self.max_listeners} listeners")
        if self.presenter_safe:
            parts.append("presenter safe (blocklisted names hidden)")
        return "; ".join(parts)


@dataclass(frozen=True)
class Ranking:
    """A hybrid top-N: items best first with the final score and each part of it.

    ``contributions`` holds one array per component (weight x normalised score) and
    ``diversity_bonus`` (diversity weight x (1 - max similarity to the items above it)); they
    add up to ``scores``.
    """

    items: NDArray[np.int64]
    scores: NDArray[np.float32]
    contributions: dict[str, NDArray[np.float32]]
    because: list[list[int]]
    weights: Weights
    rule: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prepared:
    """Listeners ready to rank: their components normalised and the items each may get.

    Built once by :meth:`HybridEngine.prepare`; a weight change only re-ranks (the Tune page,
    the metrics panel).
    """

    members: tuple[Components, ...]
    parts: dict[str, NDArray[np.float32]]
    masks: NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.members)


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
        attributes = pers.item_attributes(data.item_meta)
        self.attribute_matrix = attributes.values[list(pers.ATTRIBUTES)].to_numpy(np.float64)
        self.mmr_space = spaces.space(data, "items", space)
        self.reason_space = spaces.space(data, "items", REASON_SPACE)

    @cached_property
    def content_model(self) -> Recommender | None:
        """The content model, fitted on first use; ``None`` when the data set has no audio
        features, tags or genres (the content component is then "not available": it adds
        nothing, and :attr:`content_note` says so on every list)."""
        try:
            return create_model("content").fit(self.data)
        except DataError:
            return None

    @property
    def content_note(self) -> str | None:
        """What a list says when this data set has no content component."""
        return None if self.content_model is not None else CONTENT_NOT_AVAILABLE

    @cached_property
    def blocklisted(self) -> NDArray[np.bool_]:
        """Items whose name or artist holds a word of the presenter-safe blocklist."""
        from timbre.hybrid.safety import blocklisted  # one rule for lists with and without one

        return blocklisted(self.data.item_meta)

    @cached_property
    def item_tags(self) -> list[set[str]]:
        """Lower-cased tags and genres of every item (built on first use: the tag filters)."""
        return _item_tags(self.data)

    # ----- components ---------------------------------------------------------------------
    def personality_scores(self, z: Mapping[str, float] | None) -> NDArray[np.float32]:
        """The prior for a profile (zeros when there is none: it then adds nothing)."""
        if not z:
            return np.zeros(self.data.n_items, dtype=np.float32)
        weights = pers.attribute_weights(z, self.coefficients)
        return np.asarray(self.attribute_matrix @ weights.to_numpy(), dtype=np.float32)

    def components_for_user(self, user: int, z: Mapping[str, float] | None = None) -> Components:
        """Components of a training user (``z`` overrides their stored profile)."""
        return self.components_batch([user], [z])[0]

    def components_batch(
        self,
        users: Sequence[int] | NDArray[np.integer],
        zs: Sequence[Mapping[str, float] | None] | None = None,
        content_for: NDArray[np.bool_] | None = None,
    ) -> list[Components]:
        """Components of many training users, scored in batches (exports and metrics);
        ``content_for`` limits the content scores to the users whose weights need them (the
        others get NaN: no content, as when a data set has none)."""
        index = np.asarray(users, dtype=np.int64)
        content = np.full((len(index), self.data.n_items), np.nan, dtype=np.float32)
        wanted = np.ones(len(index), dtype=bool) if content_for is None else content_for
        with one_blas_thread():
            cf = self.cf_model.score(index)
            if wanted.any():
                rows = index[wanted]
                content[wanted] = self._content_scores(self.data.user_items[rows], rows)
        out = []
        for position, user in enumerate(index):
            row = self.data.user_items[int(user)]
            given = zs[position] if zs is not None else None
            z = given if given is not None else self.profiles.get(self.data.users.id(int(user)))
            out.append(self._components(row, cf[position], content[position], z, None))
        return out

    def components_for_row(
        self, row: sp.spmatrix | None, z: Mapping[str, float] | None = None
    ) -> Components:
        """Components for a listener the models were not trained on: a row of plays over the
        data set's items (a fresh import, a seed list), or no row at all (a persona)."""
        n = self.data.n_items
        matrix = sp.csr_matrix((1, n), dtype=np.float32) if row is None else sp.csr_matrix(row)
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        if matrix.nnz == 0:
            return self._components(matrix, None, np.full(n, np.nan, np.float32), z, None)
        with one_blas_thread():
            cf_scores, fallback = self.cf_model.score_rows(matrix)
            content = self._content_scores(matrix, None)[0]
        return self._components(matrix, cf_scores[0], content, z, fallback)

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
        cf: NDArray[np.float32] | None,
        content: NDArray[np.float32],
        z: Mapping[str, float] | None,
        note: str | None,
    ) -> Components:
        notes = [note] if note else []
        if self.content_note and row.nnz:
            notes.append(self.content_note)
        if row.nnz == 0 or cf is None:
            cf = self.listeners.astype(np.float32)
            notes.append(NO_HISTORY)
        return Components(
            raw={
                "cf": cf,
                "content": content,
                "personality": self.personality_scores(z),
                "novelty": self.novelty_raw,
            },
            seen=row.indices.astype(np.int64),
            row=row,
            history=int(row.nnz),
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
        self, members: Sequence[Components], needed: Collection[str] = COMPONENTS
    ) -> dict[str, NDArray[np.float32]]:
        """:meth:`normalized` for many listeners: ``len(members) x n_items`` per component.

        Novelty is the same for everyone (normalised once); all-zero personality rows (no
        profile) stay zero; a component not ``needed`` (no weight for any of the members) is
        left at zero.
        """
        count, n = len(members), self.data.n_items
        everything = np.ones((1, n), dtype=bool)
        out: dict[str, NDArray[np.float32]] = {}
        for name in COMPONENTS:
            if name not in needed:
                out[name] = np.zeros((count, n), dtype=np.float32)
                continue
            rows = np.vstack([c.raw[name] for c in members]).astype(np.float32, copy=False)
            if name == "novelty":
                once = normalize_rows(rows[:1], everything, self.normalization)
                out[name] = np.broadcast_to(once, (count, n))
                continue
            result = np.zeros((count, n), dtype=np.float32)
            live = np.flatnonzero(np.any(rows != 0, axis=1) | np.any(np.isnan(rows), axis=1))
            if len(live):
                result[live] = normalize_rows(
                    rows[live], np.ones((len(live), n), dtype=bool), self.normalization
                )
            out[name] = result
        return out

    # ----- the one ranking path -----------------------------------------------------------
    def prepare(
        self,
        members: Sequence[Components],
        filters: Filters | None = None,
        needed: Collection[str] = COMPONENTS,
    ) -> Prepared:
        """Normalise the members' components (the ``needed`` ones) and work out the items each
        may get."""
        masks = self._masks(members, filters or Filters())
        return Prepared(tuple(members), self.normalized_batch(members, needed), masks)

    def rank_prepared(
        self,
        prepared: Prepared,
        weights: Weights,
        n: int = 10,
        schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
        reasons: int = 3,
    ) -> list[Ranking]:
        """Rank every prepared listener: the schedule's weights for their history, fusion, the
        best ``pool`` items by fused score, MMR, contributions and reasons.

        Fusion and the pools are computed for all listeners at once (one partition); MMR and
        the reasons per listener. A listener with no item left gets an empty ranking.
        """
        if n < 1:
            raise ParameterError(f"n must be at least 1, got {n}")
        chosen = [schedule_weights(c.history, weights, schedule) for c in prepared.members]
        pools = top_n_rows(self._fused(prepared, [w for w, _ in chosen]), max(self.pool, 2 * n))
        out = []
        with one_blas_thread():
            for row, components in enumerate(prepared.members):
                parts = {name: prepared.parts[name][row] for name in COMPONENTS}
                (rule_weights, rule), (pool, values) = chosen[row], pools[row]
                out.append(
                    self._select(parts, pool, values, rule_weights, rule, n, components, reasons)
                )
        return out

    def _fused(self, prepared: Prepared, chosen: list[Weights]) -> NDArray[np.float32]:
        """Every listener's fused scores under their weights; -inf where an item is not allowed."""
        groups = set(chosen)
        if len(groups) == 1:  # the usual case: no slicing copies
            fused = fuse(prepared.parts, chosen[0])
        else:
            fused = np.empty(prepared.masks.shape, dtype=np.float32)
            for group in groups:
                rows = [r for r, w in enumerate(chosen) if w == group]
                fused[rows] = fuse({c: prepared.parts[c][rows] for c in COMPONENTS}, group)
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
    ) -> list[Ranking]:
        """:meth:`rank_prepared` of :meth:`prepare` (several listeners at once), normalising only
        the components some member's weights (after the schedule) use."""
        needed = needed_components([c.history for c in members], weights, schedule)
        prepared = self.prepare(members, filters, needed)
        return self.rank_prepared(prepared, weights, n, schedule, reasons)

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
        """One listener's ranking (:meth:`rank_prepared` of one).

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
        parts = (
            {name: np.asarray(v)[None, :] for name, v in normalized.items()}
            if normalized is not None
            else self.normalized_batch([components])
        )
        prepared = Prepared((components,), parts, masks)
        return self.rank_prepared(prepared, weights, n, schedule, reasons)[0]

    def _select(
        self,
        parts: Mapping[str, NDArray[np.float32]],
        pool: NDArray[np.int64],
        values: NDArray[np.float32],
        chosen: Weights,
        rule: str,
        n: int,
        components: Components,
        reasons: int,
    ) -> Ranking:
        """MMR over a listener's pool, then contributions and reasons."""
        if len(pool) == 0:
            return _empty_ranking(chosen, rule, components)
        picked, bonus = mmr(pool, values, self.mmr_space, chosen.diversity, n)
        contributions = {
            name: np.float32(getattr(chosen, name)) * parts[name][picked] for name in COMPONENTS
        }
        contributions["diversity_bonus"] = np.float32(chosen.diversity) * bonus
        if components.adjust is not None:
            contributions["feedback"] = components.adjust[picked].astype(np.float32)
        scores = np.asarray(np.sum(list(contributions.values()), axis=0), dtype=np.float32)
        because = self.because(components.row, picked, reasons) if reasons else []
        return Ranking(
            picked, scores, contributions, because, chosen, rule, tuple(components.notes)
        )

    def because(self, row: sp.csr_matrix, items: NDArray[np.int64], k: int = 3) -> list[list[int]]:
        """Up to ``k`` listened items most similar to each item (co-listening neighbours,
        weighted by how much they were played)."""
        if row.nnz == 0 or len(items) == 0:
            return [[] for _ in items]
        listened = row.indices
        sims = self.reason_space.gram(items, listened)
        strength = sims * np.log1p(row.data)[None, :]
        top = min(k, len(listened))
        # stable sort on -strength: ties keep the lower item index first (indices are sorted)
        order = np.argsort(-strength, axis=1, kind="stable")[:, :top]
        chosen = listened[order]
        keep = np.take_along_axis(strength, order, axis=1) > 0
        return [items[ok].tolist() for items, ok in zip(chosen, keep, strict=True)]

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
        """A blend for several users: each member's fused scores (normalised), aggregated by
        ``average`` or ``least-misery`` (the minimum); items any member heard are excluded.

        Returns the ranking and each member's score for its items.
        """
        if len(users) < 2:
            raise DataError("a group needs at least two users")
        if aggregate not in ("average", "least-misery"):
            raise ParameterError("aggregate must be average or least-misery")
        filters = filters or Filters()
        members = self.components_batch(users)
        mask = self.item_mask(filters)
        if filters.exclude_seen:
            mask[np.unique(np.concatenate([c.seen for c in members]))] = False
        if not mask.any():
            raise DataError("no item is left to recommend to this group")
        parts = self.normalized_batch(members)
        weighted = [  # member -> component -> its weighted, normalised scores
            _weighted({c: parts[c][row] for c in COMPONENTS}, _chosen(components, weights))
            for row, components in enumerate(members)
        ]
        fused = np.vstack([sum(w.values()) for w in weighted])
        stacked = normalize_rows(fused, np.tile(mask, (len(members), 1)))
        stacked[:, ~mask] = np.nan  # normalize maps NaN to the minimum; keep them out
        combined = stacked.mean(axis=0) if aggregate == "average" else stacked.min(axis=0)
        items, scores = top_n(combined, n)
        group_row = sp.csr_matrix(sum(c.row for c in members))
        ranking = Ranking(
            items=items,
            scores=scores,
            contributions=_group_contributions(weighted, fused, stacked, items, aggregate),
            because=self.because(group_row, items),
            weights=weights,
            rule=f"group of {len(users)}, {aggregate}",
        )
        names = [self.data.users.id(int(u)) for u in users]
        return ranking, pd.DataFrame(stacked[:, items].T, columns=names)


BLOCKLIST = Path(__file__).resolve().parents[1] / "resources" / "safety" / "blocklist.txt"


@cache
def blocklist() -> frozenset[str]:
    """The presenter-safe blocklist's words (``timbre/resources/safety/blocklist.txt``),
    normalised like names."""
    lines = BLOCKLIST.read_text(encoding="utf-8").splitlines()
    return frozenset(name_key(w) for w in lines if w.strip() and not w.startswith("#"))


def needed_components(
    histories: Sequence[int] | NDArray[np.integer],
    weights: Weights,
    schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
) -> set[str]:
    """The components with a weight for any of these histories (after the schedule)."""
    chosen = {schedule_weights(int(h), weights, schedule)[0] for h in histories}
    return {name for name in COMPONENTS for w in chosen if getattr(w, name)}


def fuse(parts: Mapping[str, NDArray[np.float32]], weights: Weights) -> NDArray[np.float32]:
    """``sum(w_c x component_c)`` over the components with a non-zero weight."""
    first = next(iter(parts.values()))
    fused = np.zeros(np.shape(first), dtype=np.float32)
    for name in COMPONENTS:
        w = getattr(weights, name)
        if w:
            fused += np.float32(w) * parts[name]
    return fused


def _weighted(
    parts: Mapping[str, NDArray[np.float32]], weights: Weights
) -> dict[str, NDArray[np.float32]]:
    """Each component times its weight (all of :data:`COMPONENTS`; zeros for weight 0)."""
    zero = np.zeros(np.shape(next(iter(parts.values()))), dtype=np.float32)
    return {
        name: np.float32(w) * parts[name] if (w := getattr(weights, name)) else zero
        for name in COMPONENTS
    }


def _group_contributions(
    weighted: Sequence[Mapping[str, NDArray[np.float32]]],
    fused: NDArray[np.float32],
    stacked: NDArray[np.floating],
    items: NDArray[np.int64],
    aggregate: str,
) -> dict[str, NDArray[np.float32]]:
    """Per component, its share of the group score of each item, so that they add up to it:
    each member's normalised score is split among the components in proportion to their share
    of the member's fused score (equally where that is 0); ``average`` averages the
    members' splits, ``least-misery`` takes the split of the member with the lowest score."""
    raw = fused[:, items].astype(np.float64)
    normalised = np.nan_to_num(stacked[:, items].astype(np.float64))
    known = raw != 0  # the shares of a member's fused score add up to 1 (negative ones too)
    out: dict[str, NDArray[np.float32]] = {}
    for name in COMPONENTS:
        part = np.vstack([member[name][items] for member in weighted]).astype(np.float64)
        share = np.where(known, part / np.where(known, raw, 1.0), 1.0 / len(COMPONENTS))
        split = normalised * share
        if aggregate == "average":
            out[name] = split.mean(axis=0).astype(np.float32)
        else:
            lowest = np.argmin(np.where(np.isnan(stacked[:, items]), np.inf, stacked[:, items]), 0)
            out[name] = split[lowest, np.arange(len(items))].astype(np.float32)
    out["diversity_bonus"] = np.zeros(len(items), dtype=np.float32)
    return out


def _chosen(components: Components, weights: Weights) -> Weights:
    return schedule_weights(components.history, weights)[0]


def _empty_ranking(chosen: Weights, rule: str, components: Components) -> Ranking:
    empty = np.zeros(0, dtype=np.float32)
    contributions = {name: empty for name in (*COMPONENTS, "diversity_bonus")}
    return Ranking(
        np.zeros(0, dtype=np.int64), empty, contributions, [], chosen, rule, tuple(components.notes)
    )


def _item_tags(data: InteractionData) -> list[set[str]]:
    """Lower-cased tags and genres of every item (for the tag filters)."""
    empty: list[list[str]] = [[]] * data.n_items
    tags = data.item_meta.get("tags")
    genres = data.item_meta.get("genres")
    out = []
    for a, b in zip(
        empty if tags is None else tags, empty if genres is None else genres, strict=True
    ):
        groups = (g for g in (a, b) if isinstance(g, list | tuple | np.ndarray))
        out.append({str(t).lower() for group in groups for t in group})
    return out


__all__ = [
    "CHOSEN",
    "MMR_SPACES",
    "Components",
    "Filters",
    "HybridEngine",
    "Prepared",
    "Ranking",
    "fuse",
]
