"""Group recommendations: each member's fused scores, normalised and aggregated (average or
least misery), with each component's share of the group score."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre.errors import DataError, ParameterError
from timbre.hybrid.fusion import component_needs, weighted_parts
from timbre.hybrid.normalization import normalize_rows
from timbre.hybrid.types import Aggregate, Filters, Ranking
from timbre.hybrid.weights import COMPONENTS, Weights, schedule_weights
from timbre.models.base import top_n

if TYPE_CHECKING:
    from timbre.hybrid.engine import HybridEngine


def rank_group(
    engine: HybridEngine,
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
    needs = component_needs([int(h) for h in engine.data.items_per_user[list(users)]], weights)
    members = engine.components_batch(users, needs=needs)
    mask = engine.item_mask(filters)
    if filters.exclude_seen:
        mask[np.unique(np.concatenate([c.seen for c in members]))] = False
    if not mask.any():
        raise DataError("no item is left to recommend to this group")
    parts = engine.normalized_batch(members, needs)
    weighted = [  # member -> component -> its weighted, normalised scores
        weighted_parts(
            {c: parts[c][row] for c in parts},
            schedule_weights(components.history, weights)[0],
        )
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
        contributions=group_contributions(weighted, fused, stacked, items, aggregate),
        because=engine.because(group_row, items),
        weights=weights,
        rule=f"group of {len(users)}, {aggregate}",
    )
    names = [engine.data.users.id(int(u)) for u in users]
    return ranking, pd.DataFrame(stacked[:, items].T, columns=names)


def group_contributions(
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
