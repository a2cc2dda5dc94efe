"""Lists for a listener, a profile, a seed sequence or an item, and saved lists: what the app,
the CLI and the API all call, so that each ranks through the same engine call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pandas as pd
import scipy.sparse as sp

from timbre import hybrid
from timbre import personality as pers
from timbre.errors import NotFoundError, ParameterError
from timbre.hybrid import HybridEngine, Ranking, Weights
from timbre.hybrid.tables import PARTS
from timbre.hybrid.weights import DEFAULT_SCHEDULE, ScheduleRule
from timbre.interactions import InteractionData
from timbre.services.people import (
    MappedRow,
    Person,
    find_seeds,
    listener_components,
    seeded_components,
)
from timbre.services.runs import Run
from timbre.store import Store


@dataclass(frozen=True)
class ListenerList:
    """One listener's list: the ranking, how their own plays were mapped (``None`` for a
    training row), who it is for, the seed items it used, and (built when asked) its table
    (:data:`timbre.hybrid.EXPORT_COLUMNS`) as a frame or as plain rows."""

    ranking: Ranking
    mapped: MappedRow | None
    person: str
    seeds: tuple[int, ...]
    data: InteractionData = field(repr=False)

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The table (the CLI's ``--json`` rows, the pages' table, exports)."""
        return hybrid.ranking_frame(self.data, self.ranking, self.person)

    @cached_property
    def rows(self) -> list[dict[str, Any]]:
        """The table's rows with plain values (the API's answer), without a frame."""
        return hybrid.ranking_rows(self.data, self.ranking, self.person)


def rank_listener(
    store: Store,
    engine: HybridEngine,
    query: str,
    weights: Weights,
    n: int = 10,
    filters: hybrid.Filters | None = None,
    seeds: Sequence[str] = (),
    schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
    who: Person | None = None,
) -> ListenerList:
    """The list of the listener ``query`` names (:func:`listener_components`), with seed
    artists by name when given: the one path of the Recommend page, ``timbre recommend --user``
    and ``GET /v1/recommend/user/{id}`` (which passes ``who``, the
    :func:`timbre.services.people.identify` of ``query`` its cache key was made from).

    Raises
    ------
    NotFoundError
        A seed name that matches no item, or nobody known by ``query``.
    """
    named = find_seeds(engine.data, seeds)
    if named.unknown:
        raise NotFoundError("; ".join(named.unknown))
    components, mapped, person = listener_components(store, engine, query, named.items, who)
    ranking = engine.rank(components, weights, n, filters, schedule)
    return ListenerList(ranking, mapped, person, named.items, engine.data)


def check_traits(traits: Mapping[str, float]) -> dict[str, float]:
    """Trait z-scores by trait name (:data:`timbre.personality.TRAITS`); ``ParameterError``
    naming an unknown trait or a value that is not a finite number."""
    out: dict[str, float] = {}
    for trait, value in traits.items():
        if trait not in pers.TRAITS:
            raise ParameterError(f"traits: unknown trait {trait!r} ({', '.join(pers.TRAITS)})")
        number = float(value)
        if number != number or abs(number) == float("inf"):
            raise ParameterError(f"traits: {trait} must be a finite number, got {value!r}")
        out[trait] = number
    return out


def rank_profile(
    engine: HybridEngine,
    traits: Mapping[str, float] | None,
    seeds: Sequence[str],
    weights: Weights,
    n: int = 10,
    filters: hybrid.Filters | None = None,
    schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
) -> ListenerList:
    """A cold-start list for someone known only by trait z-scores and/or seed items (names or
    ids), folded in as a person with no history is (:func:`seeded_components`).

    Raises
    ------
    ParameterError
        Neither traits nor seeds.
    NotFoundError
        A seed that matches no item.
    """
    if not traits and not seeds:
        raise ParameterError("give a user_id, or traits and/or seed_items")
    named = find_seeds(engine.data, seeds)
    if named.unknown:
        raise NotFoundError("; ".join(named.unknown))
    z = check_traits(traits) if traits else None
    empty = sp.csr_matrix((1, engine.data.n_items), dtype="float32")
    components = seeded_components(engine, empty, z, named.items)
    ranking = engine.rank(components, weights, n, filters, schedule)
    return ListenerList(ranking, None, "profile", named.items, engine.data)


def next_track(
    engine: HybridEngine,
    sequence: Sequence[str],
    weights: Weights,
    n: int = 10,
    filters: hybrid.Filters | None = None,
    label: str = "",
) -> tuple[pd.DataFrame, list[int]]:
    """What to play after a sequence of items (ids or names, oldest first): the table and
    the seed items (:meth:`HybridEngine.next_tracks`); ``NotFoundError`` for an unknown one."""
    data = engine.data
    seeds = [data.find_item(str(s).strip()) for s in sequence if str(s).strip()]
    ranking = engine.next_tracks(seeds, weights, n, filters)
    return hybrid.ranking_frame(data, ranking, label), seeds


def similar_items(
    engine: HybridEngine,
    query: str,
    n: int = 10,
    use_cf: bool = True,
    use_content: bool = True,
    filters: hybrid.Filters | None = None,
) -> tuple[pd.DataFrame, int]:
    """Items like one item (CF and/or content similarity, :meth:`HybridEngine.similar`): the
    table and the item's index. ``filters`` keep items off as in any list (their listener
    floor, blocklist and tags; what was heard does not apply)."""
    data = engine.data
    item = data.find_item(query)
    if filters is None:
        items, scores = engine.similar(item, n, use_cf, use_content)
    else:
        allowed = engine.item_mask(filters)
        items, scores = engine.similar(item, n + int((~allowed).sum()), use_cf, use_content)
        keep = allowed[items]
        items, scores = items[keep][:n], scores[keep][:n]
    ranking = Ranking(items, scores, {}, [], Weights(), "similar items")
    return hybrid.ranking_frame(data, ranking, f"like {data.items.id(item)}"), item


def save_list(
    store: Store, run: Run, frame: pd.DataFrame, weights: Weights, normalization: str
) -> int:
    """Record a ranking table (:data:`timbre.hybrid.EXPORT_COLUMNS`) for its user and run.

    Each row keeps its per-component contributions, the weights and the normalisation in its
    ``components`` record. Returns the number of rows saved.
    """
    settings = {"weights": weights.as_dict(), "normalization": normalization}
    rows = [
        {
            "user_key": str(row["user_id"]),
            "rank": int(row["rank"]),
            "item_key": str(row["item_id"]),
            "score": float(row["score"]),
            "components": {**{part: float(row[part]) for part in PARTS}, **settings},
        }
        for row in frame.to_dict("records")
    ]
    return store.save_recommendations(int(run["id"]), rows)
