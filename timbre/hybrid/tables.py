"""Rankings as tables: the rows every list, export and saved list is made of."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from timbre.hybrid.engine import HybridEngine
from timbre.hybrid.fusion import component_needs
from timbre.hybrid.reasons import reason_table
from timbre.hybrid.types import Ranking
from timbre.hybrid.weights import (
    COMPONENTS,
    DEFAULT_SCHEDULE,
    ScheduleRule,
    Weights,
)
from timbre.interactions import InteractionData

#: Columns of every recommendation table (display, CSV / Parquet, saved lists).
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
    "feedback",
    "because",
)
#: The columns that add up to ``score`` (``feedback``: the listener's likes and skips moving
#: an item, see :meth:`HybridEngine.with_feedback`; 0 without feedback).
PARTS: tuple[str, ...] = (*COMPONENTS, "diversity_bonus", "feedback")


def _artists(data: InteractionData) -> NDArray[Any]:
    return data.item_artists


def _names(data: InteractionData) -> NDArray[Any]:
    return data.item_names


#: The dtype of every text column (pandas' default string dtype, on Arrow).
_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)


def _text(values: pa.Array | pa.ChunkedArray) -> pd.Series:
    return pd.Series(values, dtype=_TEXT)


class _Rows:
    """Rows of :data:`EXPORT_COLUMNS` gathered a ranking at a time as arrays (item indices,
    float32 parts, reason tables); the text columns are made once, in Arrow, by
    :meth:`frame` (no Python string per row)."""

    def __init__(self) -> None:
        self.users: list[str] = []
        self.counts: list[int] = []
        self.items: list[NDArray[np.int64]] = []
        self.values: dict[str, list[NDArray[np.float32]]] = {n: [] for n in ("score", *PARTS)}
        self.reasons: list[NDArray[np.int64]] = []

    def add(self, user_id: str, ranking: Ranking) -> None:
        count = len(ranking.items)
        self.users.append(user_id)
        self.counts.append(count)
        self.items.append(np.asarray(ranking.items, dtype=np.int64))
        self.values["score"].append(ranking.scores)
        for name in PARTS:
            values = ranking.contributions.get(name)
            self.values[name].append(np.zeros(count, np.float32) if values is None else values)
        table = ranking.reason_items
        if table is None:
            because = ranking.because or [[] for _ in ranking.items]
            table = reason_table(because, max((len(b) for b in because), default=0))
        self.reasons.append(table)

    def frame(self, data: InteractionData) -> pd.DataFrame:
        counts = np.asarray(self.counts, dtype=np.int64)
        total = int(counts.sum())
        items = np.concatenate(self.items) if self.items else np.zeros(0, dtype=np.int64)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        columns: dict[str, Any] = {
            "user_id": _text(pa.array(np.repeat(np.asarray(self.users, dtype=object), counts))),
            "rank": np.arange(1, total + 1, dtype=np.int64) - starts,
        }
        taken = pa.array(items)
        columns["item_id"] = _text(pa.array(data.items.ids.tolist()).take(taken))
        columns["item_name"] = _text(pa.array(_names(data)).take(taken))
        columns["artist"] = _text(pa.array(_artists(data)).take(taken))
        for name, parts in self.values.items():
            joined = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
            columns[name] = joined.astype(np.float64).round(6)
        columns["because"] = _text(self._because(data, total))
        frame = pd.DataFrame(columns)
        return frame[list(EXPORT_COLUMNS)]

    def _because(self, data: InteractionData, total: int) -> pa.Array:
        """``"; "``-joined display names of each row's reasons ("" for none)."""
        width = max((t.shape[1] for t in self.reasons), default=0)
        if width == 0:
            return pa.array([""] * total, type=pa.string())
        table = np.full((total, width), -1, dtype=np.int64)
        start = 0
        for reasons in self.reasons:
            table[start : start + len(reasons), : reasons.shape[1]] = reasons
            start += len(reasons)
        shown = pa.array([str(n) for n in data.display_names])
        names = [shown.take(pa.array(c, mask=c < 0)) for c in table.T]
        joined = pc.binary_join_element_wise(*names, "; ", null_handling="skip")
        return pc.fill_null(joined, "")


def rankings_frame(data: InteractionData, rankings: Sequence[tuple[str, Ranking]]) -> pd.DataFrame:
    """Rankings as rows of :data:`EXPORT_COLUMNS`, one list after the other."""
    rows = _Rows()
    for user_id, ranking in rankings:
        rows.add(user_id, ranking)
    return rows.frame(data)


def items_frame(
    data: InteractionData,
    items: Sequence[int] | NDArray[np.integer],
    scores: Sequence[float] | NDArray[np.floating],
) -> pd.DataFrame:
    """A plain ranked list of items (one model's list, similar items): ``rank, item_id, name,
    score``."""
    index = np.asarray(items, dtype=np.int64)
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(index) + 1),
            "item_id": data.items.ids[index],
            "name": data.display_names[index],
            "score": np.round(np.asarray(scores, dtype=np.float64), 6),
        }
    )


def ranking_frame(data: InteractionData, ranking: Ranking, user_id: str = "") -> pd.DataFrame:
    """One ranking as rows of :data:`EXPORT_COLUMNS`."""
    return rankings_frame(data, [(user_id, ranking)])


def batch_frame(
    engine: HybridEngine,
    users: Sequence[int] | NDArray[np.integer],
    weights: Weights,
    n: int = 50,
    filters: Any = None,
    progress: Callable[[float, str], None] | None = None,
    batch: int = 256,
    schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
) -> pd.DataFrame:
    """Top-``n`` with every component for many users (the all-listeners export).

    Ranked through the engine's one path (:meth:`HybridEngine.rank_many`) a batch of users at a
    time, so every list equals the one the Recommend page shows for that user.
    """
    index = np.asarray(users, dtype=np.int64)
    data = engine.data
    rows = _Rows()
    for start in range(0, len(index), batch):
        chunk = index[start : start + batch]
        histories = data.items_per_user[chunk].astype(np.int64)
        needs = component_needs(histories, weights, schedule)  # only what the weights use
        members = engine.components_batch(chunk, needs=needs)
        rankings = engine.rank_many(members, weights, n, filters, schedule, reason_lists=False)
        for user, ranking in zip(chunk.tolist(), rankings, strict=True):
            rows.add(data.users.id(user), ranking)
        if progress:
            done = min(start + batch, len(index))
            progress(done / len(index), f"{done:,} of {len(index):,} users")
    return rows.frame(data)
