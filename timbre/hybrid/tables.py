"""Rankings as tables: the rows every list, export and saved list is made of."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from timbre.hybrid.engine import HybridEngine
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

    def frame(self, data: InteractionData, labels: _Labels | None = None) -> pd.DataFrame:
        """The rows as a frame (``labels``: the data set's names as Arrow arrays, made once
        for many frames)."""
        names = labels if labels is not None else _Labels.of(data)
        counts = np.asarray(self.counts, dtype=np.int64)
        total = int(counts.sum())
        items = np.concatenate(self.items) if self.items else np.zeros(0, dtype=np.int64)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        columns: dict[str, Any] = {
            "user_id": _text(pa.array(np.repeat(np.asarray(self.users, dtype=object), counts))),
            "rank": np.arange(1, total + 1, dtype=np.int64) - starts,
        }
        taken = pa.array(items)
        columns["item_id"] = _text(names.ids.take(taken))
        columns["item_name"] = _text(names.names.take(taken))
        columns["artist"] = _text(names.artists.take(taken))
        for name, parts in self.values.items():
            joined = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
            columns[name] = joined.astype(np.float64).round(6)
        columns["because"] = _text(self._because(names.shown, total))
        frame = pd.DataFrame(columns)
        return frame[list(EXPORT_COLUMNS)]

    def records(self, data: InteractionData) -> list[dict[str, Any]]:
        """The rows of :meth:`frame` as plain Python values, without a frame (few rows: one
        list, the API's answer); the same values (floats rounded to 6 places, reasons joined
        by ``"; "``)."""
        ids, names, artists, shown = (
            data.items.ids,
            _names(data),
            _artists(data),
            data.display_names,
        )
        out: list[dict[str, Any]] = []
        for k, (user, items, reasons) in enumerate(
            zip(self.users, self.items, self.reasons, strict=True)
        ):
            values = {n: parts[k].astype(np.float64).round(6) for n, parts in self.values.items()}
            for r, item in enumerate(int(i) for i in items):
                row: dict[str, Any] = {
                    "user_id": user,
                    "rank": r + 1,
                    "item_id": str(ids[item]),
                    "item_name": str(names[item]),
                    "artist": str(artists[item]),
                    **{n: float(v[r]) for n, v in values.items()},
                    "because": "; ".join(str(shown[j]) for j in reasons[r] if j >= 0)
                    if reasons.shape[1]
                    else "",
                }
                out.append({c: row[c] for c in EXPORT_COLUMNS})
        return out

    def _because(self, shown: pa.Array, total: int) -> pa.Array:
        """``"; "``-joined display names (``shown``) of each row's reasons ("" for none): one
        list of names a row, joined (a row without reasons keeps its place)."""
        width = max((t.shape[1] for t in self.reasons), default=0)
        if width == 0:
            return pa.array([""] * total, type=pa.string())
        table = np.full((total, width), -1, dtype=np.int64)
        start = 0
        for reasons in self.reasons:
            table[start : start + len(reasons), : reasons.shape[1]] = reasons
            start += len(reasons)
        valid = table >= 0
        offsets = np.zeros(total + 1, dtype=np.int32)
        np.cumsum(valid.sum(axis=1), out=offsets[1:])
        names = shown.take(pa.array(table[valid]))  # row by row, in each row's order
        return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), names), "; ")


@dataclass(frozen=True)
class _Labels:
    """A data set's item ids, names, artists and display names as Arrow arrays (what the
    text columns are taken from)."""

    ids: pa.Array
    names: pa.Array
    artists: pa.Array
    shown: pa.Array

    @classmethod
    def of(cls, data: InteractionData) -> _Labels:
        return cls(
            pa.array(data.items.ids.tolist()),
            pa.array(_names(data)),
            pa.array(_artists(data)),
            pa.array([str(n) for n in data.display_names]),
        )


def rankings_frame(data: InteractionData, rankings: Sequence[tuple[str, Ranking]]) -> pd.DataFrame:
    """Rankings as rows of :data:`EXPORT_COLUMNS`, one list after the other."""
    rows = _Rows()
    for user_id, ranking in rankings:
        rows.add(user_id, ranking)
    return rows.frame(data)


def ranking_rows(
    data: InteractionData, ranking: Ranking, user_id: str = ""
) -> list[dict[str, Any]]:
    """One ranking as rows of :data:`EXPORT_COLUMNS` with plain Python values (the rows of
    :func:`ranking_frame`, without building a frame: what the API answers with)."""
    rows = _Rows()
    rows.add(user_id, ranking)
    return rows.records(data)


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
    batch: int | None = None,
    schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
) -> pd.DataFrame:
    """Top-``n`` with every component for many users (the all-listeners export), in memory:
    the frames of :func:`batch_frames`, one after the other."""
    frames = list(batch_frames(engine, users, weights, n, filters, progress, batch, schedule))
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


#: Scores a batch of the export holds per component (users x items): the batch is this over
#: the catalogue's size, at most :data:`BATCH_USERS` users (float32 temporaries of ~32 MB).
BATCH_CELLS = 8_000_000
BATCH_USERS = 256


def export_batch(n_items: int) -> int:
    """Users ranked at once by the export: :data:`BATCH_USERS`, fewer for a catalogue so large
    that a batch's ``users x items`` scores would pass :data:`BATCH_CELLS`."""
    return int(min(BATCH_USERS, max(16, BATCH_CELLS // max(n_items, 1))))


def batch_frames(
    engine: HybridEngine,
    users: Sequence[int] | NDArray[np.integer],
    weights: Weights,
    n: int = 50,
    filters: Any = None,
    progress: Callable[[float, str], None] | None = None,
    batch: int | None = None,
    schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
) -> Iterator[pd.DataFrame]:
    """Top-``n`` with every component for many users, a frame per ``batch`` of users (default
    :func:`export_batch`), in order: what the export writes one at a time, so its memory
    does not grow with the number of users (at least one frame, empty for no users).

    Ranked through the engine's one path (:meth:`HybridEngine.rank_many`), so every list
    equals the one the Recommend page shows for that user. The content model is fitted now
    (not on first use) when any user's weights (after the schedule) use it, so what the lists
    say about content (:attr:`HybridEngine.content_note`) is settled before the first row.
    """
    index = np.asarray(users, dtype=np.int64)
    data = engine.data
    size = batch or export_batch(data.n_items)
    histories = data.items_per_user[index].astype(np.int64)
    if "content" in engine.needs(np.unique(histories), weights, schedule):
        engine.content_model  # noqa: B018 (fitted now: the provenance is written first)
    return _batch_frames(engine, index, weights, n, filters, progress, size, schedule)


def _batch_frames(
    engine: HybridEngine,
    index: NDArray[np.int64],
    weights: Weights,
    n: int,
    filters: Any,
    progress: Callable[[float, str], None] | None,
    batch: int,
    schedule: Sequence[ScheduleRule] | None,
) -> Iterator[pd.DataFrame]:
    data = engine.data
    labels = _Labels.of(data)
    if len(index) == 0:
        yield _Rows().frame(data, labels)
    for start in range(0, len(index), batch):
        chunk = index[start : start + batch]
        histories = data.items_per_user[chunk].astype(np.int64)
        needs = engine.needs(histories, weights, schedule)  # only what the weights use
        members = engine.components_batch(chunk, needs=needs)
        rankings = engine.rank_many(members, weights, n, filters, schedule, reason_lists=False)
        rows = _Rows()
        for user, ranking in zip(chunk.tolist(), rankings, strict=True):
            rows.add(data.users.id(user), ranking)
        yield rows.frame(data, labels)
        if progress:
            done = min(start + batch, len(index))
            progress(done / len(index), f"{done:,} of {len(index):,} users")
