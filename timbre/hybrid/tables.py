"""Rankings as tables: the rows every list, export and saved list is made of."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from timbre.hybrid.engine import HybridEngine, Ranking
from timbre.hybrid.weights import (
    COMPONENTS,
    DEFAULT_SCHEDULE,
    ScheduleRule,
    Weights,
    schedule_weights,
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


def _append_rows(
    columns: dict[str, list[Any]],
    data: InteractionData,
    ranking: Ranking,
    user_id: str,
    names: NDArray[Any],
    artists: NDArray[Any],
) -> None:
    count = len(ranking.items)
    columns["user_id"].extend([user_id] * count)
    columns["rank"].extend(range(1, count + 1))
    columns["item_id"].extend(data.items.ids[ranking.items])
    columns["item_name"].extend(names[ranking.items])
    columns["artist"].extend(artists[ranking.items])
    columns["score"].extend(ranking.scores.astype(np.float64).round(6))
    for name in PARTS:
        values = ranking.contributions.get(name)
        part = np.zeros(count) if values is None else values.astype(np.float64).round(6)
        columns[name].extend(part)
    because = ranking.because or [[] for _ in ranking.items]
    shown = data.display_names
    columns["because"].extend("; ".join(shown[i] for i in items) for items in because)


def rankings_frame(data: InteractionData, rankings: Sequence[tuple[str, Ranking]]) -> pd.DataFrame:
    """Rankings as rows of :data:`EXPORT_COLUMNS`, one list after the other."""
    names, artists = _names(data), _artists(data)
    columns: dict[str, list[Any]] = {name: [] for name in EXPORT_COLUMNS}
    for user_id, ranking in rankings:
        _append_rows(columns, data, ranking, user_id, names, artists)
    frame = pd.DataFrame(columns)
    frame["rank"] = frame["rank"].astype(np.int64)
    return frame[list(EXPORT_COLUMNS)]


def ranking_rows(
    data: InteractionData, ranking: Ranking, user_id: str = ""
) -> list[dict[str, Any]]:
    """One ranking as rows of :data:`EXPORT_COLUMNS` with plain Python values (the rows of
    :func:`ranking_frame`, without building a frame: what the API answers with)."""
    columns: dict[str, list[Any]] = {name: [] for name in EXPORT_COLUMNS}
    _append_rows(columns, data, ranking, user_id, _names(data), _artists(data))
    floats = ("score", *PARTS)
    texts = [name for name in EXPORT_COLUMNS if name not in floats and name != "rank"]
    out = []
    for i in range(len(columns["rank"])):
        row: dict[str, Any] = {name: columns[name][i] for name in EXPORT_COLUMNS}
        row["rank"] = int(row["rank"])
        row.update({name: float(row[name]) for name in floats})
        row.update({name: str(row[name]) for name in texts})
        out.append(row)
    return out


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
    names, artists = _names(data), _artists(data)
    columns: dict[str, list[Any]] = {name: [] for name in EXPORT_COLUMNS}
    for start in range(0, len(index), batch):
        chunk = index[start : start + batch]
        histories = data.items_per_user[chunk].astype(np.int64)
        content_for = np.array(
            [schedule_weights(int(h), weights, schedule)[0].content > 0 for h in histories]
        )  # content scores only for the users whose weights use them
        members = engine.components_batch(chunk, content_for=content_for)
        rankings = engine.rank_many(members, weights, n, filters, schedule)
        for user, ranking in zip(chunk, rankings, strict=True):
            _append_rows(columns, data, ranking, data.users.id(int(user)), names, artists)
        if progress:
            done = min(start + batch, len(index))
            progress(done / len(index), f"{done:,} of {len(index):,} users")
    frame = pd.DataFrame(columns)
    frame["rank"] = frame["rank"].astype(np.int64)
    return frame[list(EXPORT_COLUMNS)]
