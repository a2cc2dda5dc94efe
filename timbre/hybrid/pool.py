"""The hybrid's candidate pool from an approximate index, on catalogues where scoring every
item for every listener stops being cheap.

Exactly, a listener's list is made from full rows: every component scored over the catalogue,
normalised over it, fused, the exclusions applied, the best ``pool`` items by fused score
kept for MMR. Past ``engine.ann_min_items`` items (:data:`timbre.models.ann.ANN_MIN_ITEMS` by
default), with a factor model and min-max or z-score normalisation, :func:`rank_pooled`
scores only candidates instead:

1. **Candidates**: the listener's best by CF and novelty together from an inner-product
   index over ``[v, novelty]`` (query ``[u, lam]``, ``lam = spread x w_novelty / w_cf``, so
   the product is the two components fused, up to the CF normalisation; a
   :class:`~timbre.models.ann.RangedIndex`, searched by norm range):
   :data:`~timbre.models.ann.POOL_CF_CANDIDATES` a range beyond the items they may not get;
   each other
   component's best as many (popularity, the CF of a listener without history, is the same for
   everyone: sorted once; content and personality are normalised over their own rows as
   before, so they are exact); the items their feedback raises.
2. **Normalisation without the CF row**, exactly: z-score from the factors' moments (the mean
   of ``u . v`` over all items is ``u . mean(V)``, its variance ``u' Cov(V) u``:
   ``O(factors^2)`` a listener); min-max from the largest and the smallest ``u . v``, found by
   scanning the items by falling norm until ``|u| |v|`` cannot beat them (Cauchy-Schwarz; at
   160k items a few hundred items for the largest, ~1% for the smallest). Rank normalisation
   needs every item's rank: it stays exact (full rows).
3. **A pool shown complete**: an item that is no candidate scores at most
   ``sum_c w_c t_c``, ``t_c`` the normalised score of component ``c``'s last candidate (for
   CF, the largest of each norm range's last; the threshold of Fagin's algorithm), so when the
   ``pool``-th best candidate beats that, the pool holds the exact best ``pool`` items as far
   as the index's answers are exact (what the lists lose is what the index misses). Otherwise
   each other item's ceiling is worked out (its CF at most its range's last candidate's and at
   most its list's centroid's ``u . c`` plus ``|u|`` times its distance to it; its other
   components as they are: novelty, popularity, content and personality are known for every
   item) and every item whose ceiling reaches the pool's last score is
   scored too; a listener for whom that is more than
   :data:`~timbre.models.ann.POOL_EXTRA_SHARE` of the catalogue is ranked exactly.

The pooled listeners then go through the one ranking path
(:meth:`HybridEngine.rank_prepared`) like every other list, on a :class:`Prepared` whose
columns are their candidates, so fusion, the pool's order (ties to the lower index), MMR, the
contributions and the reasons are the same code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from timbre.hybrid.fusion import fuse
from timbre.hybrid.normalization import normalize_rows
from timbre.hybrid.types import Components, Filters, Prepared, Ranking
from timbre.hybrid.weights import COMPONENTS, ScheduleRule, Weights, schedule_weights
from timbre.models import ann
from timbre.models.factorization import FactorModel

if TYPE_CHECKING:
    from timbre.hybrid.engine import HybridEngine

#: Normalisations computed without full rows (a reciprocal rank needs every item's rank).
POOLED = ("minmax", "zscore")
#: How far the pool's last fused score must clear the threshold (float32 rounding).
MARGIN = 1e-5
#: Components scored over the catalogue as before (sparse or a handful of attributes).
FULL_ROWS = ("content", "personality")


def applies(engine: HybridEngine) -> bool:
    """Whether ``engine`` draws its pools from the index: a factor model, min-max or z-score
    normalisation, and at least ``engine.ann_min_items`` items."""
    return (
        isinstance(engine.cf_model, FactorModel)
        and engine.normalization in POOLED
        and engine.data.n_items >= engine.ann_min_items
    )


@dataclass
class _Static:
    """A component that is the same for every listener, normalised over the catalogue."""

    values: NDArray[np.float32]

    @cached_property
    def order(self) -> NDArray[np.int64]:
        """Items best first, ties to the lower index."""
        return np.lexsort((np.arange(len(self.values)), -self.values)).astype(np.int64)

    def top(self, m: int) -> tuple[NDArray[np.int64], float]:
        """The best ``m`` items and the score no other item exceeds."""
        order = self.order
        bound = float(self.values[order[m]]) if m < len(order) else -np.inf
        return order[:m], bound


class PoolState:
    """What every pool of one engine shares: the index, the factors' moments, the static
    components (built on first use, kept on the engine)."""

    def __init__(self, engine: HybridEngine) -> None:
        model = engine.cf_model
        assert isinstance(model, FactorModel)
        self.model = model
        self.factors = model.item_factors_
        norms = np.linalg.norm(self.factors.astype(np.float64), axis=1)
        self.by_norm = np.argsort(-norms, kind="stable")
        self.sorted_factors = np.ascontiguousarray(self.factors[self.by_norm])
        self.sorted_norms = norms[self.by_norm]
        wide = self.factors.astype(np.float64)
        self.mean = wide.mean(axis=0)
        self.cov = np.cov(wide, rowvar=False, bias=True)  # over all items, as the z-score
        method = self.method = engine.normalization
        self.novelty = _Static(normalize_rows(engine.novelty_raw[None, :], None, method)[0])
        popularity = engine.listeners.astype(np.float32)[None, :]
        self.popularity = _Static(normalize_rows(popularity, None, method)[0])
        #: Listeners ranked from a pool, and ranked exactly (not shown complete, or folded in).
        self.pooled = 0
        self.exact = 0

    @cached_property
    def joint(self) -> NDArray[np.float32]:
        """Each item's factors and its normalised novelty: ``[u, lam] . [v, nov]`` is CF and
        novelty fused, up to the CF normalisation (:class:`_CF`)."""
        return np.ascontiguousarray(np.hstack([self.factors, self.novelty.values[:, None]]))

    @cached_property
    def index(self) -> ann.RangedIndex:
        """The inner-product index over :attr:`joint`."""
        return ann.RangedIndex(self.joint, ann.POOL_NPROBE)


def state_of(engine: HybridEngine) -> PoolState:
    """The engine's :class:`PoolState` (built once)."""
    state = engine.__dict__.get("_pool_state")
    if state is None:
        state = engine.__dict__["_pool_state"] = PoolState(engine)
    return state


@dataclass
class _Listener:
    """One listener's pooling inputs: their weights, what they may not get, their factor."""

    member: Components
    weights: Weights
    names: tuple[str, ...]
    excluded: NDArray[np.int64]
    factor: NDArray[np.float32] | None  # None: no history (CF is popularity)


def rank_pooled(
    engine: HybridEngine,
    members: Sequence[Components],
    weights: Weights,
    n: int,
    filters: Filters | None,
    schedule: Sequence[ScheduleRule] | None,
    reasons: int,
    reason_lists: bool = True,
) -> list[Ranking] | None:
    """The rankings of ``members`` with pools drawn from the index (``None`` when
    :func:`applies` is False: rank exactly). Listeners whose pool cannot be shown complete,
    and listeners who are not training users of the model (a row folded in), are ranked
    exactly, in the same call."""
    if not applies(engine) or not members:
        return None
    filters = filters or Filters()
    needs = engine.needs([c.history for c in members], weights, schedule)
    allowed = engine.item_mask(filters)
    listeners = _listeners(engine, members, weights, schedule, needs, filters)
    size = max(engine.pool, 2 * n)
    pooled: dict[int, tuple[NDArray[np.int64], dict[str, NDArray[np.float32]]]] = {}
    candidates = [r for r, one in enumerate(listeners) if one is not None]
    if candidates:
        found = _pools(engine, [listeners[r] for r in candidates], needs, allowed, size)  # type: ignore[misc]
        pooled = {r: pool for r, pool in zip(candidates, found, strict=True) if pool is not None}
    out: list[Ranking | None] = [None] * len(members)
    if pooled:
        rows = sorted(pooled)
        prepared = _prepared(
            [members[r] for r in rows],
            [pooled[r] for r in rows],
            {k: v[rows] for k, v in needs.items()},
        )
        ranked = engine.rank_prepared(prepared, weights, n, schedule, reasons, reason_lists)
        for r, ranking in zip(rows, ranked, strict=True):
            out[r] = ranking
    rest = [r for r in range(len(members)) if r not in pooled]
    state = state_of(engine)
    state.pooled, state.exact = state.pooled + len(pooled), state.exact + len(rest)
    if rest:
        exact = engine.prepare(
            [members[r] for r in rest], filters, {k: v[rest] for k, v in needs.items()}
        )
        ranked = engine.rank_prepared(exact, weights, n, schedule, reasons, reason_lists)
        for r, ranking in zip(rest, ranked, strict=True):
            out[r] = ranking
    return [r for r in out if r is not None]


def _listeners(
    engine: HybridEngine,
    members: Sequence[Components],
    weights: Weights,
    schedule: Sequence[ScheduleRule] | None,
    needs: Mapping[str, NDArray[np.bool_]],
    filters: Filters,
) -> list[_Listener | None]:
    """Each member's pooling inputs; ``None`` for one whose CF score needs their row (not a
    training user of the model: folded in, ranked exactly)."""
    model = engine.cf_model
    assert isinstance(model, FactorModel)
    out: list[_Listener | None] = []
    for row, member in enumerate(members):
        chosen, _ = schedule_weights(member.history, weights, schedule)
        names = tuple(c for c in COMPONENTS if getattr(chosen, c) and c in needs and needs[c][row])
        uses_cf = "cf" in names and member.history > 0
        if uses_cf and not 0 <= member.user < model.user_factors_.shape[0]:
            out.append(None)
            continue
        parts = [member.seen, member.barred] if filters.exclude_seen else [member.barred]
        excluded = np.unique(np.concatenate(parts).astype(np.int64))
        factor = model.user_factors_[member.user] if uses_cf else None
        out.append(_Listener(member, chosen, names, excluded, factor))
    return out


def _pools(
    engine: HybridEngine,
    listeners: Sequence[_Listener],
    needs: Mapping[str, NDArray[np.bool_]],
    allowed: NDArray[np.bool_],
    size: int,
) -> list[tuple[NDArray[np.int64], dict[str, NDArray[np.float32]]] | None]:
    """Each listener's candidates (sorted) and their normalised component scores, or ``None``
    when the pool cannot be shown complete without scoring much of the catalogue."""
    state = state_of(engine)
    full = _full_rows(engine, listeners)
    n_items = engine.data.n_items
    scale = n_items / max(int(allowed.sum()), 1)  # a filter leaves fewer of the index's best
    m = max(ann.POOL_CF_CANDIDATES, size)
    found = _cf_candidates(state, listeners, m, scale, n_items)
    return [
        _one_pool(state, one, cf, rows, m, allowed, size)
        for one, cf, rows in zip(listeners, found, full, strict=True)
    ]


def _full_rows(
    engine: HybridEngine, listeners: Sequence[_Listener]
) -> list[dict[str, NDArray[np.float32]]]:
    """The content and personality rows of the listeners who use them, normalised over the
    catalogue exactly as the exact path does (a component that adds nothing is left out)."""
    wanted = {
        name: np.array([name in one.names for one in listeners], dtype=bool) for name in FULL_ROWS
    }
    wanted = {name: rows for name, rows in wanted.items() if rows.any()}
    if not wanted:
        return [{} for _ in listeners]
    parts = engine.normalized_batch([one.member for one in listeners], wanted)
    return [
        {name: parts[name][r] for name in wanted if name in parts and wanted[name][r]}
        for r in range(len(listeners))
    ]


@dataclass
class _CF:
    """A listener's CF candidates from the index over ``[v, novelty]``: the items, the query
    ``[u, lam]`` (``lam`` folds the novelty weight in: ``0`` without it), the joint score
    ``u . v + lam novelty`` no other item exceeds (``-inf`` when every item is a candidate),
    and the catalogue's lowest and highest ``u . v``."""

    items: NDArray[np.int64]
    query: NDArray[np.float32]
    bound: float
    low: float
    high: float
    #: Per range of the index, the joint score none of its other items exceeds.
    range_bounds: NDArray[np.float32]

    @property
    def folds_novelty(self) -> bool:
        """Whether novelty is part of the index's score (then it has no candidates of its
        own, nor a threshold)."""
        return bool(self.query[-1] > 0)


#: Items scanned a step when looking for the extreme scores.
EXTREMES_BLOCK = 512


def extremes(
    state: PoolState, queries: NDArray[np.float32]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The exact lowest and highest ``u . v`` over all items for each query ``u``: items in
    falling norm, a block at a time, until ``|u| |v|`` of the next cannot beat either."""
    count = len(queries)
    low = np.full(count, np.inf, dtype=np.float32)
    high = np.full(count, -np.inf, dtype=np.float32)
    sizes = np.linalg.norm(queries.astype(np.float64), axis=1)
    active = np.arange(count)
    total = len(state.sorted_norms)
    for start in range(0, total, EXTREMES_BLOCK):
        block = state.sorted_factors[start : start + EXTREMES_BLOCK] @ queries[active].T
        low[active] = np.minimum(low[active], block.min(axis=0))
        high[active] = np.maximum(high[active], block.max(axis=0))
        end = start + EXTREMES_BLOCK
        if end >= total:
            break
        reach = sizes[active] * state.sorted_norms[end]  # no later item scores beyond +-reach
        active = active[(reach > high[active]) | (-reach < low[active])]
        if not len(active):
            break
    return low, high


def _cf_candidates(
    state: PoolState, listeners: Sequence[_Listener], m: int, scale: float, n_items: int
) -> list[_CF | None]:
    """The index's best ``m`` (times ``scale``) for each listener, beyond the items they may
    not get, by CF and novelty together (:class:`_CF`), and the catalogue's lowest and highest
    ``u . v``: one batched search."""
    rows = [r for r, one in enumerate(listeners) if one.factor is not None]
    out: list[_CF | None] = [None] * len(listeners)
    if not rows:
        return out
    factors = np.stack([listeners[r].factor for r in rows])  # type: ignore[misc]
    lows, highs = extremes(state, factors)
    lams = np.zeros(len(rows), dtype=np.float32)
    for position, r in enumerate(rows):
        one = listeners[r]
        if "novelty" in one.names:  # w_cf g(u . v) + w_nov nov = w_cf g(u . v + lam nov)
            spread = _spread(state, factors[position], lows[position], highs[position])
            lams[position] = spread * one.weights.novelty / one.weights.cf
    queries = np.hstack([factors, lams[:, None]])
    extra = max(len(listeners[r].excluded) for r in rows)
    k = min(n_items, int(np.ceil(m * scale)) + extra)
    best = state.index.search(queries, k)
    sizes = state.index.sizes()
    edges = np.cumsum([0, *(min(k, size) for size in sizes)])
    truncated = np.asarray([k < size for size in sizes])  # a range with more than it gave
    for position, r in enumerate(rows):
        found = best[position]
        valid = found >= 0
        joint = np.where(valid, state.joint[np.maximum(found, 0)] @ queries[position], np.inf)
        lasts = np.minimum.reduceat(joint, edges[:-1])  # each range's last found
        limits = np.where(truncated & np.isfinite(lasts), lasts, -np.inf).astype(np.float32)
        items = np.unique(found[valid])
        bound = float(limits.max(initial=-np.inf))
        out[r] = _CF(items, queries[position], bound, lows[position], highs[position], limits)
    return out


def _spread(state: PoolState, u: NDArray[np.float32], low: float, high: float) -> float:
    """What min-max or z-score divides ``u . v`` by: the span, or the standard deviation."""
    if state.method == "zscore":
        wide = u.astype(np.float64)
        return float(np.sqrt(max(float(wide @ state.cov @ wide), 0.0)))
    return float(np.float32(high) - np.float32(low))


def _one_pool(
    state: PoolState,
    one: _Listener,
    cf: _CF | None,
    full: Mapping[str, NDArray[np.float32]],
    m: int,
    allowed: NDArray[np.bool_],
    size: int,
) -> tuple[NDArray[np.int64], dict[str, NDArray[np.float32]]] | None:
    """One listener's candidates and their normalised scores, the pool shown complete: by the
    threshold (each component's last candidate), else by each other item's ceiling
    (:func:`_ceiling`): items whose ceiling reaches the pool's last score are scored too."""
    groups: list[NDArray[np.int64]] = []
    bounds: dict[str, float] = {}
    for name in one.names:
        if name == "cf" and cf is not None:
            groups.append(cf.items)
            bounds[name] = _cf_bound(state, one, cf)
        elif name == "novelty" and cf is not None and cf.folds_novelty:
            continue  # in the CF threshold
        elif name in ("cf", "novelty"):
            items, bounds[name] = _static(state, name).top(m)
            groups.append(items)
        elif name in full:
            items, bounds[name] = _top(full[name], m)
            groups.append(items)
        else:
            bounds[name] = 0.0  # adds nothing (no profile, no content): zeros everywhere
    if one.member.adjust is not None:
        groups.append(np.flatnonzero(one.member.adjust > 0))  # others are only lowered
    every = np.unique(np.concatenate(groups)) if groups else np.zeros(0, np.int64)
    keep = allowed[every] & ~np.isin(every, one.excluded, assume_unique=True)
    items = every[keep]
    if len(items) < size:
        return None
    parts, last = _scored(state, one, cf, full, items, size)
    threshold = sum(getattr(one.weights, name) * bound for name, bound in bounds.items())
    if last > threshold + MARGIN:
        return items, parts
    outside = allowed.copy()
    outside[every] = False
    outside[one.excluded] = False
    extra = np.flatnonzero(outside & (_ceiling(state, one, cf, full) > last - MARGIN))
    if len(extra) > ann.POOL_EXTRA_SHARE * len(allowed):
        return None  # the ceilings leave too much: rank this listener exactly
    items = np.union1d(items, extra)
    parts, _ = _scored(state, one, cf, full, items, size)
    return items, parts


def _scored(
    state: PoolState,
    one: _Listener,
    cf: _CF | None,
    full: Mapping[str, NDArray[np.float32]],
    items: NDArray[np.int64],
    size: int,
) -> tuple[dict[str, NDArray[np.float32]], float]:
    """The normalised components at ``items`` and the ``size``-th best fused score."""
    parts = {name: _values(state, one, name, cf, full, items) for name in one.names}
    fused = fuse(parts, one.weights, (len(items),))
    if one.member.adjust is not None:
        fused = fused + one.member.adjust[items]
    return parts, float(np.partition(fused, len(items) - size)[len(items) - size])


def _ceiling(
    state: PoolState, one: _Listener, cf: _CF | None, full: Mapping[str, NDArray[np.float32]]
) -> NDArray[np.float32]:
    """Every item's highest possible fused score if it is no CF candidate: its CF score (with
    novelty, when the index folds it in) at most the last candidate's and at most its inverted
    list's bound
    (:meth:`~timbre.models.ann.ItemIndex.ceilings`), the other components as they are (known
    for every item); feedback only lowers an item that is no candidate."""
    total = np.zeros(len(state.factors), dtype=np.float32)
    for name in one.names:
        weight = np.float32(getattr(one.weights, name))
        if name == "cf" and cf is not None and one.factor is not None:
            limits = cf.range_bounds[state.index.range_of]  # each item's range's last
            capped = np.minimum(limits, state.index.ceilings(cf.query))
            total += weight * _normalize_cf(state, one.factor, capped, cf)
        elif name == "novelty" and cf is not None and cf.folds_novelty:
            continue  # in the CF ceiling (the joint score)
        elif name in ("cf", "novelty"):
            total += weight * _static(state, name).values
        elif name in full:
            total += weight * full[name]
    return total


def _static(state: PoolState, name: str) -> _Static:
    """Novelty, or popularity (the CF of a listener without history)."""
    return state.novelty if name == "novelty" else state.popularity


def _values(
    state: PoolState,
    one: _Listener,
    name: str,
    cf: _CF | None,
    full: Mapping[str, NDArray[np.float32]],
    items: NDArray[np.int64],
) -> NDArray[np.float32]:
    """Component ``name``'s normalised scores of ``items``, as over the whole catalogue."""
    if name == "cf" and cf is not None and one.factor is not None:
        raw = np.asarray(state.factors[items] @ one.factor, dtype=np.float32)
        return _normalize_cf(state, one.factor, raw, cf)
    if name in ("cf", "novelty"):
        return _static(state, name).values[items]
    if name in full:
        return full[name][items]
    return np.zeros(len(items), dtype=np.float32)


def _cf_bound(state: PoolState, one: _Listener, cf: _CF) -> float:
    """The normalised CF score (with novelty's, when folded in: ``w_cf g(u . v + lam nov)``
    is ``w_cf g(u . v) + w_nov nov`` for a linear normalisation ``g``) no item outside the
    index's candidates exceeds."""
    if not np.isfinite(cf.bound) or one.factor is None:
        return -np.inf
    at = np.asarray([cf.bound], dtype=np.float32)
    return float(_normalize_cf(state, one.factor, at, cf)[0])


def _normalize_cf(
    state: PoolState, u: NDArray[np.float32], raw: NDArray[np.float32], cf: _CF
) -> NDArray[np.float32]:
    """``raw`` (``u . v`` of some items) normalised as over the whole catalogue: z-score from
    the factors' moments; min-max between the catalogue's lowest and highest score
    (:func:`extremes`), float32 as the exact path computes it."""
    if not np.any(u):  # all scores 0: the exact path leaves such a row at 0
        return np.zeros(len(raw), np.float32)
    if state.method == "zscore":
        mean = float(u.astype(np.float64) @ state.mean)
        sd = _spread(state, u, cf.low, cf.high)
        if sd <= 0:
            return np.zeros(len(raw), np.float32)
        return ((raw.astype(np.float64) - mean) / sd).astype(np.float32)
    low, high = np.float32(cf.low), np.float32(cf.high)
    span = high - low  # float32, as the exact path's
    divisor = span if span > 0 else np.float32(np.inf)
    return np.divide(np.subtract(raw, low, dtype=np.float32), divisor).astype(np.float32)


def _top(values: NDArray[np.float32], m: int) -> tuple[NDArray[np.int64], float]:
    """The best ``m`` of a full row and the score no other item exceeds."""
    if m >= len(values):
        return np.arange(len(values), dtype=np.int64), -np.inf
    cut = len(values) - m
    part = np.argpartition(values, cut)
    return part[cut:].astype(np.int64), float(values[part[cut]])


def _prepared(
    members: Sequence[Components],
    pools: Sequence[tuple[NDArray[np.int64], dict[str, NDArray[np.float32]]]],
    needs: Mapping[str, NDArray[np.bool_]],
) -> Prepared:
    """The pooled listeners ready to rank: one column a candidate (sorted; a short row repeats
    its last item, masked), every needed component at them (0 where a member's weights leave
    it out, as in the exact path)."""
    width = max(len(items) for items, _ in pools)
    columns = np.zeros((len(pools), width), dtype=np.int64)
    masks = np.zeros((len(pools), width), dtype=bool)
    parts = {name: np.zeros((len(pools), width), dtype=np.float32) for name in needs}
    for row, (items, values) in enumerate(pools):
        columns[row, : len(items)] = items
        columns[row, len(items) :] = items[-1]
        masks[row, : len(items)] = True
        for name, scores in values.items():
            parts[name][row, : len(items)] = scores
    ready = {name: np.asarray(rows, dtype=bool) for name, rows in needs.items()}
    return Prepared(tuple(members), parts, masks, ready, None, columns)
