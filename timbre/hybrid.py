"""The hybrid score: normalised components, weighted fusion, MMR diversity, cold start, reasons."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.stats import rankdata
from threadpoolctl import ThreadpoolController

from timbre.errors import DataError, ParameterError, TimbreError
from timbre.interactions import InteractionData
from timbre.models import Recommender, create_model
from timbre.models.base import top_n

#: The scored components, in the order they are shown and exported.
COMPONENTS: tuple[str, ...] = ("cf", "content", "personality", "novelty")
Normalization = Literal["minmax", "rank", "zscore"]
NORMALIZATIONS: tuple[str, ...] = ("minmax", "rank", "zscore")
Space = Literal["interactions", "content"]
SPACES: tuple[str, ...] = ("interactions", "content")
#: Dimensions of the embeddings in which MMR measures similarity (truncated SVD).
EMBEDDING_DIMS = 64
#: Inspected once: ``threadpool_limits`` rescans the loaded libraries each time (2.7 ms here);
#: limiting through one controller costs 0.01 ms.
_THREADS = ThreadpoolController()


def one_blas_thread() -> Any:
    """A context with BLAS limited to one thread (many small products: threads only wait)."""
    return _THREADS.limit(limits=1, user_api="blas")


# ----- weights ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Weights:
    """Weights of the four components and of the MMR diversity bonus.

    Raises ``ValueError`` (naming the weight) when one is negative or not finite, or when every
    component weight is zero (diversity alone cannot rank).
    """

    cf: float = 0.7
    content: float = 0.15
    personality: float = 0.05
    novelty: float = 0.05
    diversity: float = 0.05

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ParameterError(f"weight {item.name!r} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ParameterError(
                    f"weight {item.name!r} must be a non-negative number, got {value}"
                )
        if all(getattr(self, c) == 0 for c in COMPONENTS):
            raise ParameterError(
                "at least one of the weights cf, content, personality, novelty must be above 0"
            )

    def as_dict(self) -> dict[str, float]:
        return {item.name: float(getattr(self, item.name)) for item in fields(self)}

    @classmethod
    def parse(cls, text: str, base: Weights | None = None) -> Weights:
        """``"cf=0.4,personality=0.4,diversity=0.1"``; names not given are 0 (or ``base``'s)."""
        values = base.as_dict() if base else {item.name: 0.0 for item in fields(cls)}
        for part in (p.strip() for p in text.split(",") if p.strip()):
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or key not in values:
                raise ParameterError(
                    f"weights are name=value with names {', '.join(values)}; got {part!r}"
                )
            try:
                values[key] = float(value)
            except ValueError:
                raise ParameterError(f"weight {key!r} must be a number, got {value!r}") from None
        return cls(**values)


#: Named weight sets. "original" is the first design's formula: 0.4 history (CF), 0.4
#: personality, 0.1 diversity, 0.1 novelty. "cold-start": personality and popularity (the CF
#: component of a user without history is item popularity).
PRESETS: dict[str, Weights] = {
    "default": Weights(),
    "original": Weights(cf=0.4, content=0.0, personality=0.4, novelty=0.1, diversity=0.1),
    "cf-only": Weights(cf=1.0, content=0.0, personality=0.0, novelty=0.0, diversity=0.0),
    "content-only": Weights(cf=0.0, content=1.0, personality=0.0, novelty=0.0, diversity=0.0),
    "cold-start": Weights(cf=0.4, content=0.0, personality=0.6, novelty=0.0, diversity=0.0),
}


def preset(name: str) -> Weights:
    """A named weight set; ``ValueError`` listing the names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ParameterError(
            f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}"
        ) from None


@dataclass(frozen=True)
class ScheduleRule:
    """Users with fewer than ``below`` interactions get ``weights``."""

    below: int
    weights: Weights
    label: str


#: The cold-start schedule: data, shown and editable in the app. Users at or above the last
#: threshold get the weights chosen by the user of Timbre.
DEFAULT_SCHEDULE: tuple[ScheduleRule, ...] = (
    ScheduleRule(
        1,
        Weights(cf=0.3, content=0.0, personality=0.7, novelty=0.0, diversity=0.0),
        "no history: personality + popularity",
    ),
    ScheduleRule(
        5,
        Weights(cf=0.4, content=0.2, personality=0.4, novelty=0.0, diversity=0.0),
        "fewer than 5 interactions: personality + popularity + content",
    ),
)


def schedule_weights(
    history: int, chosen: Weights, schedule: Sequence[ScheduleRule] = DEFAULT_SCHEDULE
) -> tuple[Weights, str]:
    """The weights for a user with ``history`` interactions, and which rule gave them."""
    for rule in sorted(schedule, key=lambda r: r.below):
        if history < rule.below:
            return rule.weights, rule.label
    return chosen, "chosen weights"


def schedule_frame(schedule: Sequence[ScheduleRule] = DEFAULT_SCHEDULE) -> pd.DataFrame:
    """The schedule as an editable table (one row per rule)."""
    return pd.DataFrame(
        [{"below": r.below, **r.weights.as_dict(), "label": r.label} for r in schedule]
    )


def schedule_from_frame(frame: pd.DataFrame) -> tuple[ScheduleRule, ...]:
    """Rules from an edited table; ``DataError`` naming the bad row."""
    rules = []
    for position, row in enumerate(frame.to_dict("records"), start=1):
        try:
            below = int(row["below"])
            if below < 1:
                raise ParameterError("'below' must be at least 1")
            weights = Weights(**{f.name: float(row[f.name]) for f in fields(Weights)})
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"cold-start schedule row {position}: {exc}") from None
        rules.append(ScheduleRule(below, weights, str(row.get("label") or f"below {below}")))
    return tuple(rules)


# ----- normalisation ---------------------------------------------------------------------------
def normalize(values: NDArray[np.floating], method: str = "minmax") -> NDArray[np.float32]:
    """Scale a score vector so components can be added; NaN (no opinion) becomes the minimum.

    ``minmax``: to 0..1; ``rank``: average rank scaled to 0..1 (ties share a value); ``zscore``:
    mean 0, standard deviation 1. All three keep the order, so a single component ranks items
    exactly as it does on its own.

    Examples
    --------
    >>> normalize(np.array([2.0, 4.0, np.nan, 3.0])).tolist()
    [0.0, 1.0, 0.0, 0.5]
    >>> normalize(np.array([10.0, 30.0, 20.0]), "rank").tolist()
    [0.0, 1.0, 0.5]
    """
    x = np.asarray(values, dtype=np.float64)[None, :]
    return normalize_rows(x, np.ones(x.shape, dtype=bool), method)[0]


def normalize_rows(
    values: NDArray[np.floating], mask: NDArray[np.bool_], method: str = "minmax"
) -> NDArray[np.float32]:
    """:func:`normalize` of every row over its ``mask`` (items outside the mask get 0)."""
    if method not in NORMALIZATIONS:
        raise ParameterError(
            f"normalization must be one of {', '.join(NORMALIZATIONS)}; got {method!r}"
        )
    x = np.asarray(values, dtype=np.float32)
    known = mask & np.isfinite(x)
    out: NDArray[Any] = np.zeros(x.shape, dtype=np.float32)
    if method == "rank":
        for row in range(x.shape[0]):
            k = known[row]
            count = int(k.sum())
            if count > 1:
                out[row, k] = (rankdata(x[row, k], method="average") - 1) / (count - 1)
        return out.astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "minmax":
            y = np.where(known, x, np.nan)
            has = known.any(axis=1, keepdims=True)
            filled = np.where(has, y, np.float32(0.0))
            low = np.where(has, np.nanmin(filled, axis=1, keepdims=True), np.float32(0.0))
            high = np.where(has, np.nanmax(filled, axis=1, keepdims=True), np.float32(0.0))
            span = high - low
            out = np.asarray((y - low) / np.where(span > 0, span, np.inf), dtype=np.float32)
            out[~known] = 0.0
        else:  # zscore
            count = np.maximum(known.sum(axis=1, keepdims=True), 1)
            mean = np.where(known, x, 0.0).sum(axis=1, keepdims=True) / count
            var = np.where(known, (x - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / count
            sd = np.sqrt(var)
            scaled = np.where(sd > 0, (x - mean) / np.where(sd > 0, sd, 1.0), 0.0)
            out = np.where(known, scaled, 0.0)
            lowest = np.where(known, out, np.inf).min(axis=1, keepdims=True)
            lowest = np.where(np.isfinite(lowest), lowest, 0.0)
            out = np.where(mask & ~known, lowest, out)
    out[~mask] = 0.0
    return out.astype(np.float32)


# ----- components ------------------------------------------------------------------------------
@dataclass
class Components:
    """Raw component scores of every item for one user (or a seed list, or a persona)."""

    raw: dict[str, NDArray[np.float32]]
    seen: NDArray[np.int64]
    row: sp.csr_matrix
    history: int
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Filters:
    """Which items may be recommended."""

    exclude_seen: bool = True
    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    min_listeners: int = 0
    max_listeners: int | None = None


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
        Where MMR measures similarity: ``interactions`` (items played by the same people) or
        ``content`` (audio features and tags), each as a 64-dimensional truncated SVD embedding
        (cosine) so that re-ranking takes milliseconds.
    pool
        MMR re-ranks the best ``pool`` items by fused score (at least 2 x n).
    """

    def __init__(
        self,
        data: InteractionData,
        cf_model: Recommender,
        profiles: Mapping[str, Mapping[str, float]] | None = None,
        coefficients: pd.DataFrame | None = None,
        normalization: str = "minmax",
        space: str = "interactions",
        pool: int = 100,
    ) -> None:
        from timbre import personality as pers

        if normalization not in NORMALIZATIONS:
            raise ParameterError(f"normalization must be one of {', '.join(NORMALIZATIONS)}")
        if space not in SPACES:
            raise ParameterError(f"space must be one of {', '.join(SPACES)}; got {space!r}")
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
        binary = data.user_items.copy()
        binary.data[:] = 1.0
        self.listeners = np.diff(binary.tocsc().indptr).astype(np.float64)
        self.novelty_raw = (-np.log2(np.maximum(self.listeners, 1.0) / data.n_users)).astype(
            np.float32
        )
        self.content_model = create_model("content").fit(data)
        self.attributes = pers.item_attributes(data.item_meta)
        self.attribute_matrix = self.attributes.values[list(pers.ATTRIBUTES)].to_numpy(
            dtype=np.float64
        )
        self.embedding = self._embedding(binary)
        tags = data.item_meta.get("tags")
        genres = data.item_meta.get("genres")
        self.item_tags: list[set[str]] = [
            {
                str(t).lower()
                for group in (a, b)
                if isinstance(group, list | tuple | np.ndarray)
                for t in group
            }
            for a, b in zip(
                tags if tags is not None else [[]] * data.n_items,
                genres if genres is not None else [[]] * data.n_items,
                strict=True,
            )
        ]

    def _embedding(self, binary: sp.csr_matrix) -> NDArray[np.float32]:
        from sklearn.decomposition import TruncatedSVD

        if self.space == "interactions":
            source = sp.csr_matrix(binary.T)
        else:
            source = self.content_model.vectors_  # type: ignore[attr-defined]
        dims = max(1, min(EMBEDDING_DIMS, min(source.shape) - 1))
        if min(source.shape) <= 2:
            dense = np.asarray(source.toarray(), dtype=np.float64)
        else:
            dense = TruncatedSVD(dims, random_state=0).fit_transform(source)
        norms = np.linalg.norm(dense, axis=1)
        norms[norms == 0] = 1.0
        return np.asarray(dense / norms[:, None], dtype=np.float32)

    # ----- components ---------------------------------------------------------------------
    def personality_scores(self, z: Mapping[str, float] | None) -> NDArray[np.float32]:
        """The prior for a profile (zeros when there is none: it then adds nothing)."""
        from timbre import personality as pers

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
    ) -> list[Components]:
        """Components of many training users, scored in batches (for exports and metrics)."""
        index = np.asarray(users, dtype=np.int64)
        cf = self.cf_model.score(index)
        content = self.content_model.score(index)
        out = []
        for position, user in enumerate(index):
            row = self.data.user_items[int(user)]
            given = zs[position] if zs is not None else None
            z = given if given is not None else self.profiles.get(self.data.users.id(int(user)))
            raw_cf = cf[position]
            notes = []
            if row.nnz == 0:
                raw_cf = self.listeners.astype(np.float32)
                notes.append("no history: the cf component is item popularity")
            out.append(
                Components(
                    raw={
                        "cf": raw_cf,
                        "content": content[position],
                        "personality": self.personality_scores(z),
                        "novelty": self.novelty_raw,
                    },
                    seen=row.indices.astype(np.int64),
                    row=row,
                    history=int(row.nnz),
                    notes=notes,
                )
            )
        return out

    def components_for_row(
        self, row: sp.spmatrix | None, z: Mapping[str, float] | None = None
    ) -> Components:
        """Components for a listener the models were not trained on: a row of plays over the
        data set's items (a fresh import, a seed list), or no row at all (a persona)."""
        n = self.data.n_items
        matrix = (
            sp.csr_matrix((1, n), dtype=np.float32)
            if row is None
            else sp.csr_matrix(row, dtype=np.float32)
        )
        notes: list[str] = []
        if matrix.nnz == 0:
            cf = self.listeners.astype(np.float32)
            content = np.full(n, np.nan, dtype=np.float32)
            notes.append("no history: the cf component is item popularity")
        else:
            cf_scores, fallback = self.cf_model.score_rows(matrix)
            cf = cf_scores[0]
            if fallback:
                notes.append(fallback)
            content = self.content_model.score_rows(matrix)[0][0]
        return Components(
            raw={
                "cf": cf,
                "content": content,
                "personality": self.personality_scores(z),
                "novelty": self.novelty_raw,
            },
            seen=matrix.indices.astype(np.int64),
            row=matrix,
            history=int(matrix.nnz),
            notes=notes,
        )

    # ----- ranking ------------------------------------------------------------------------
    def allowed(self, components: Components, filters: Filters) -> NDArray[np.bool_]:
        """Items that may be recommended to this listener under ``filters``."""
        mask = self.item_mask(filters)
        if filters.exclude_seen:
            mask[components.seen] = False
        return mask

    def item_mask(self, filters: Filters) -> NDArray[np.bool_]:
        """Items ``filters`` allow for anyone (tags, listener counts; not "heard")."""
        mask = np.ones(self.data.n_items, dtype=bool)
        if filters.min_listeners:
            mask &= self.listeners >= filters.min_listeners
        if filters.max_listeners is not None:
            mask &= self.listeners <= filters.max_listeners
        if filters.include_tags or filters.exclude_tags:
            include = {t.lower() for t in filters.include_tags}
            exclude = {t.lower() for t in filters.exclude_tags}
            for i in np.flatnonzero(mask):
                tags = self.item_tags[i]
                if (include and not include & tags) or (exclude & tags):
                    mask[i] = False
        return mask

    def normalized(self, components: Components) -> dict[str, Any]:
        """Each component normalised over the whole catalogue (so a filter or a heard item does
        not shift the scale)."""
        return {name: rows[0] for name, rows in self.normalized_batch([components]).items()}

    def normalized_batch(self, members: Sequence[Components]) -> dict[str, NDArray[np.float32]]:
        """:meth:`normalized` for many listeners: ``len(members) x n_items`` per component.

        Novelty is the same for everyone (normalised once); all-zero personality rows (no
        profile) stay zero.
        """
        count, n = len(members), self.data.n_items
        everything = np.ones((1, n), dtype=bool)
        out: dict[str, NDArray[np.float32]] = {}
        for name in COMPONENTS:
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
        """Fuse, re-rank with MMR, and attach contributions and reasons.

        ``normalized`` may be passed from :meth:`normalized` to re-rank after a weight change
        without normalising again (the live Tune page).
        """
        if n < 1:
            raise ParameterError(f"n must be at least 1, got {n}")
        chosen, rule = (
            schedule_weights(components.history, weights, schedule)
            if schedule
            else (weights, "chosen weights")
        )
        filters = filters or Filters()
        mask = self.allowed(components, filters)
        if not mask.any():
            raise DataError("no item is left to recommend under these filters")
        parts = normalized if normalized is not None else self.normalized(components)
        # small matrix products: with several BLAS threads they wait on each other, badly so
        # when the machine is busy (8 ms instead of 0.3 ms measured on 2 cores under load)
        with one_blas_thread():
            return self._select(parts, mask, chosen, rule, n, components, reasons)

    def _select(
        self,
        parts: Mapping[str, NDArray[np.float32]],
        mask: NDArray[np.bool_],
        chosen: Weights,
        rule: str,
        n: int,
        components: Components,
        reasons: int,
    ) -> Ranking:
        """Fuse normalised parts, take the pool, MMR, contributions and reasons."""
        fused = np.zeros(self.data.n_items, dtype=np.float32)
        for name in COMPONENTS:
            w = getattr(chosen, name)
            if w:
                fused += np.float32(w) * parts[name]
        fused[~mask] = np.nan
        size = min(int(mask.sum()), max(self.pool, 2 * n))
        pool, _ = top_n(fused, size)
        picked, bonus = mmr(pool, fused[pool], self.embedding, chosen.diversity, n)
        contributions = {
            name: np.float32(getattr(chosen, name)) * parts[name][picked] for name in COMPONENTS
        }
        contributions["diversity_bonus"] = np.float32(chosen.diversity) * bonus
        scores = np.asarray(np.sum(list(contributions.values()), axis=0), dtype=np.float32)
        because = self.because(components.row, picked, reasons) if reasons else []
        return Ranking(
            items=picked,
            scores=scores,
            contributions=contributions,
            because=because,
            weights=chosen,
            rule=rule,
            notes=tuple(components.notes),
        )

    def because(self, row: sp.csr_matrix, items: NDArray[np.int64], k: int = 3) -> list[list[int]]:
        """Up to ``k`` listened items most similar to each item (co-listening neighbours,
        weighted by how much they were played)."""
        if row.nnz == 0 or len(items) == 0:
            return [[] for _ in items]
        listened = row.indices
        sims = self.embedding[items] @ self.embedding[listened].T
        strength = sims * np.log1p(row.data)[None, :]
        top = min(k, len(listened))
        # stable sort on -strength: ties keep the lower item index first (indices are sorted)
        order = np.argsort(-strength, axis=1, kind="stable")[:, :top]
        chosen = listened[order]
        keep = np.take_along_axis(strength, order, axis=1) > 0
        return [items[ok].tolist() for items, ok in zip(chosen, keep, strict=True)]

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
        total = np.zeros(self.data.n_items, dtype=np.float32)
        if use_cf:
            total += normalize(self.cf_model._item_similarity(int(item)))
        if use_content:
            total += normalize(self.content_model._item_similarity(int(item)))
        return top_n(total / (int(use_cf) + int(use_content)), n, np.asarray([int(item)]))

    def group(
        self,
        users: Sequence[int],
        weights: Weights,
        n: int = 10,
        aggregate: str = "average",
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
        seen = np.unique(np.concatenate([c.seen for c in members]))
        mask = self.item_mask(filters)
        if filters.exclude_seen:
            mask[seen] = False
        if not mask.any():
            raise DataError("no item is left to recommend to this group")
        parts = self.normalized_batch(members)
        fused_members = []
        for row, components in enumerate(members):
            chosen, _ = schedule_weights(components.history, weights)
            fused = sum(getattr(chosen, c) * parts[c][row] for c in COMPONENTS)
            member = normalize(np.where(mask, fused, np.nan))
            member[~mask] = np.nan  # normalize maps NaN to the minimum; keep them out
            fused_members.append(member)
        stacked = np.vstack(fused_members)
        combined = stacked.mean(axis=0) if aggregate == "average" else stacked.min(axis=0)
        items, scores = top_n(combined, n)
        group_row = sp.csr_matrix(sum(c.row for c in members))
        ranking = Ranking(
            items=items,
            scores=scores,
            contributions={"group": scores},
            because=self.because(group_row, items),
            weights=weights,
            rule=f"group of {len(users)}, {aggregate}",
        )
        per_member = pd.DataFrame(
            stacked[:, items].T, columns=[self.data.users.id(int(u)) for u in users]
        )
        return ranking, per_member


def mmr(
    pool: NDArray[np.int64],
    scores: NDArray[np.float32],
    embedding: NDArray[np.float32],
    diversity: float,
    n: int,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Greedy maximal-marginal-relevance selection from ``pool`` (sorted best first).

    Each step picks the item maximising ``score + diversity x (1 - max cosine to the items
    already picked)``; with ``diversity`` 0 it returns the pool's order. Returns the picked
    items and each one's ``1 - max similarity`` at the time it was picked (1 for the first).
    """
    count = min(n, len(pool))
    if diversity == 0 or count <= 1:
        return pool[:count].astype(np.int64), np.ones(count, dtype=np.float32)
    vectors = embedding[pool]
    sims = vectors @ vectors.T
    max_sim = np.zeros(len(pool), dtype=np.float32)
    available = np.ones(len(pool), dtype=bool)
    picked: list[int] = []
    bonuses: list[float] = []
    for step in range(count):
        bonus = 1.0 - max_sim if step else np.ones(len(pool), dtype=np.float32)
        value = np.where(available, scores + diversity * bonus, -np.inf)
        best = int(np.argmax(value))  # ties: the earlier (better-ranked) item
        picked.append(best)
        bonuses.append(float(bonus[best]))
        available[best] = False
        max_sim = np.maximum(max_sim, sims[best])
    return pool[picked].astype(np.int64), np.asarray(bonuses, dtype=np.float32)


# ----- tables ------------------------------------------------------------------------------------
EXPORT_COLUMNS: tuple[str, ...] = (
    "user_id",
    "rank",
    "item_id",
    "item_name",
    "artist",
    "score",
    "cf",
    "content",
    "personality",
    "novelty",
    "diversity_bonus",
    "because",
)


def ranking_frame(data: InteractionData, ranking: Ranking, user_id: str = "") -> pd.DataFrame:
    """One ranking as export rows (:data:`EXPORT_COLUMNS`)."""
    meta = data.item_meta.iloc[ranking.items]
    artist = meta["artist"] if "artist" in meta else pd.Series([None] * len(meta))
    frame = pd.DataFrame(
        {
            "user_id": user_id,
            "rank": np.arange(1, len(ranking.items) + 1),
            "item_id": data.items.ids[ranking.items],
            "item_name": meta["name"].astype(str).to_numpy(),
            "artist": [a if isinstance(a, str) else "" for a in artist],
            "score": ranking.scores.astype(np.float64).round(6),
        }
    )
    for name in (*COMPONENTS, "diversity_bonus"):
        values = ranking.contributions.get(name)
        frame[name] = 0.0 if values is None else values.astype(np.float64).round(6)
    because = ranking.because or [[] for _ in ranking.items]
    frame["because"] = ["; ".join(data.item_name(i) for i in items) for items in because]
    return frame[list(EXPORT_COLUMNS)]


def batch_frame(
    engine: HybridEngine,
    users: Sequence[int] | NDArray[np.integer],
    weights: Weights,
    n: int = 50,
    filters: Filters | None = None,
    progress: Any = None,
    batch: int = 256,
    schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
) -> pd.DataFrame:
    """Top-``n`` with every component for many users (the all-users export).

    The same ranking as :meth:`HybridEngine.rank` per user, with the components scored and
    normalised a batch of users at a time.
    """
    filters = filters or Filters()
    index = np.asarray(users, dtype=np.int64)
    data = engine.data
    names = data.item_meta["name"].astype(str).to_numpy()
    artist_column = data.item_meta.get("artist")
    artists = np.asarray(
        [a if isinstance(a, str) else "" for a in artist_column]
        if artist_column is not None
        else [""] * data.n_items,
        dtype=object,
    )
    columns: dict[str, list[Any]] = {name: [] for name in EXPORT_COLUMNS}
    item_filter = engine.item_mask(filters)
    with one_blas_thread():  # many small products: threads only add overhead
        for start in range(0, len(index), batch):
            _batch_chunk(
                engine,
                index[start : start + batch],
                weights,
                n,
                filters,
                schedule,
                item_filter,
                names,
                artists,
                columns,
            )
            if progress:
                done = min(start + batch, len(index))
                progress(done / len(index), f"{done:,} of {len(index):,} users")
    return pd.DataFrame(columns)[list(EXPORT_COLUMNS)]


def _batch_chunk(
    engine: HybridEngine,
    chunk: NDArray[np.int64],
    weights: Weights,
    n: int,
    filters: Filters,
    schedule: Sequence[ScheduleRule] | None,
    item_filter: NDArray[np.bool_],
    names: NDArray[Any],
    artists: NDArray[Any],
    columns: dict[str, list[Any]],
) -> None:
    data = engine.data
    members = engine.components_batch(chunk)
    mask = np.tile(item_filter, (len(chunk), 1))
    if filters.exclude_seen:
        for row, components in enumerate(members):
            mask[row, components.seen] = False
    parts = engine.normalized_batch(members)
    for row, (user, components) in enumerate(zip(chunk, members, strict=True)):
        chosen, rule = (
            schedule_weights(components.history, weights, schedule)
            if schedule
            else (weights, "chosen weights")
        )
        ranking = engine._select(
            {name: parts[name][row] for name in COMPONENTS},
            mask[row],
            chosen,
            rule,
            n,
            components,
            3,
        )
        count = len(ranking.items)
        columns["user_id"].extend([data.users.id(int(user))] * count)
        columns["rank"].extend(range(1, count + 1))
        columns["item_id"].extend(data.items.ids[ranking.items])
        columns["item_name"].extend(names[ranking.items])
        columns["artist"].extend(artists[ranking.items])
        columns["score"].extend(ranking.scores.astype(np.float64).round(6))
        for name in (*COMPONENTS, "diversity_bonus"):
            columns[name].extend(ranking.contributions[name].astype(np.float64).round(6))
        columns["because"].extend("; ".join(names[i] for i in items) for items in ranking.because)


def export_comments(
    weights: Weights, dataset: str, run: Mapping[str, Any] | None, normalization: str, space: str
) -> list[str]:
    """The header lines that document how an export was made."""
    made = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Timbre recommendations, {made}",
        f"data set: {dataset}",
        "weights: " + ", ".join(f"{k}={v:g}" for k, v in weights.as_dict().items()),
        f"normalisation: {normalization}; diversity space: {space}",
    ]
    if run:
        lines.append(
            f"cf model: run {run.get('id')} ({run.get('model')}), "
            + ", ".join(f"{k}={v}" for k, v in sorted(dict(run.get("params") or {}).items()))
        )
    return lines


def write_parquet(frame: pd.DataFrame, path: str, comments: Sequence[str]) -> None:
    """Write ``frame`` as Parquet with the comment lines in a ``.json`` sidecar."""
    import json
    from pathlib import Path

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(target, index=False)
    target.with_suffix(".json").write_text(json.dumps({"made_with": list(comments)}, indent=2))


def engine_for_run(
    store: Any,
    data: InteractionData,
    run: Mapping[str, Any],
    normalization: str = "minmax",
    space: str = "interactions",
    coefficients: pd.DataFrame | None = None,
) -> HybridEngine:
    """The engine for a registry run's model on ``data``, with every stored profile."""
    from timbre import personality as pers
    from timbre.models.runs import load_run

    model = load_run(dict(run), data)
    profiles = pers.latest_trait_z(store.list_profiles())
    return HybridEngine(data, model, profiles, coefficients, normalization, space)


class MetricsPanel:
    """Offline metrics of the hybrid ranking on a fixed sample of held-out users, fast enough to
    follow a slider: components are scored and normalised once; a weight change only fuses,
    re-ranks and measures.

    Parameters
    ----------
    engine
        An engine whose CF model was trained on ``split.train`` (so the test items are unseen).
    split
        A :class:`timbre.evaluation.Split` of the same data.
    sample
        How many test users (seeded sample).
    """

    def __init__(
        self, engine: HybridEngine, split: Any, sample: int = 300, seed: int = 0, k: int = 10
    ) -> None:
        rng = np.random.default_rng(seed)
        users = split.test_users
        self.users = np.sort(rng.choice(users, size=min(sample, len(users)), replace=False))
        self.engine = engine
        self.split = split
        self.k = k
        with one_blas_thread():
            members = engine.components_batch(self.users)
        self.history = np.array([c.history for c in members])
        mask = np.ones((len(self.users), engine.data.n_items), dtype=bool)
        for row, components in enumerate(members):
            mask[row, components.seen] = False
        self.mask = mask
        self.parts = engine.normalized_batch(members)

    def measure(self, weights: Weights, pool: int = 50) -> dict[str, float]:
        """NDCG@k, recall@k, intra-list diversity, novelty and coverage for ``weights``."""
        from timbre.evaluation import (
            coverage,
            intra_list_diversity,
            novelty,
            ranking_metrics,
        )

        fused = np.zeros(self.mask.shape, dtype=np.float32)
        for name in COMPONENTS:
            w = getattr(weights, name)
            if w:
                fused += np.float32(w) * self.parts[name]
        fused[~self.mask] = -np.inf
        size = max(pool, self.k)
        candidates = np.argpartition(-fused, size, axis=1)[:, :size]
        values = np.take_along_axis(fused, candidates, axis=1)
        order = np.lexsort((candidates, -values), axis=1)
        candidates = np.take_along_axis(candidates, order, axis=1)
        values = np.take_along_axis(values, order, axis=1)
        lists = np.empty((len(self.users), self.k), dtype=np.int64)
        with one_blas_thread():
            for row in range(len(self.users)):
                picked, _ = mmr(
                    candidates[row], values[row], self.engine.embedding, weights.diversity, self.k
                )
                lists[row] = picked
        per_user = ranking_metrics(lists, self.split.test, self.users, self.k)
        train = self.split.train.user_items
        listeners = np.diff(sp.csc_matrix(train).indptr).astype(np.float64)
        return {
            "ndcg": float(per_user["ndcg"].mean()),
            "recall": float(per_user["recall"].mean()),
            "diversity": intra_list_diversity(lists, self.engine.embedding),
            "novelty": novelty(lists, listeners, train.shape[0]),
            "coverage": coverage(lists, train.shape[1]),
        }

    def tradeoff(
        self, weights: Weights, values: Sequence[float] = (0.0, 0.1, 0.2, 0.4, 0.7, 1.0)
    ) -> pd.DataFrame:
        """Metrics as the diversity weight, then the novelty weight, sweep ``values`` (the other
        weights as given): the accuracy-diversity and accuracy-novelty trade-off curves."""
        rows = []
        for knob in ("diversity", "novelty"):
            for value in values:
                varied = replace(weights, **{knob: float(value)})
                rows.append({"knob": knob, "value": float(value), **self.measure(varied)})
        return pd.DataFrame(rows)
