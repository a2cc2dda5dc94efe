"""One scrobble, one row: timed plays matched across exports that keep their time to the second
or only to the minute.

Last.fm's CSV exports come in layouts that give a scrobble's time to the second (``uts``) or to
the minute (``22 Mar 2022 17:55``); Spotify's basic history gives the minute, its extended one the
second. Importing one layout after another must not store each play twice. A batch that declares
its play precision (``ImportBatch.play_precision_s``) has its timed plays matched against the
plays stored in the same data set for the same user and item:

- a play known to the minute is the stored play of the same minute, whatever its seconds;
- a play known to the second is a stored play of the same minute stored without seconds (its
  time is a whole minute), and that stored time is refined to the second (counted as updated).

Matched plays are not inserted again (counted unchanged). Two plays of one track by one person
within a minute are not told apart, which no scrobble history holds (a track counts as played
after half of it, and after at least 30 seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from timbre.store.schema import NO_TIMESTAMP, T_INTERACTIONS
from timbre.store.sql import IN_CHUNK, WriteCounts, chunks, select_frame

MINUTE_MS = 60_000


@dataclass
class Matched:
    """What matching a batch's plays against the stored ones decided.

    Attributes
    ----------
    rows
        The batch's rows still to write (those that matched no stored play).
    refine
        Stored play id -> its time refined to the second (``ts`` in epoch ms).
    counts
        The matched rows: refined ones as updated, the others as unchanged.
    """

    rows: pd.DataFrame
    refine: dict[int, int] = field(default_factory=dict)
    counts: WriteCounts = field(default_factory=WriteCounts)


def match_stored_plays(
    conn: Connection, dataset: int, frame: pd.DataFrame, precision_s: int
) -> Matched:
    """Match the timed plays of ``frame`` with the plays stored in data set ``dataset``.

    Parameters
    ----------
    conn
        The import's connection.
    dataset
        The data set's id.
    frame
        ``user_id, item_id, event, weight, ts`` (one row per natural key).
    precision_s
        How exact the batch's times are: 1 or 60 seconds.

    Returns
    -------
    Matched
        The rows left to write, the stored times to refine and the counts of the matched rows.
    """
    timed = (frame["event"] == "play") & (frame["ts"] != NO_TIMESTAMP)
    if not timed.any():
        return Matched(frame)
    plays = frame[timed]
    stored = _stored_plays(conn, dataset, plays)
    if stored.empty:
        return Matched(frame)
    exact = plays.merge(stored, on=["user_id", "item_id", "ts"], how="left")["id"].notna()
    pending = plays[~exact.to_numpy()].assign(minute=lambda f: f["ts"] // MINUTE_MS)
    if precision_s < 60:  # only plays stored without seconds can be these plays
        stored = stored[stored["ts"] % MINUTE_MS == 0]
    pairs = pending.reset_index().merge(
        stored.assign(minute=stored["ts"] // MINUTE_MS),
        on=["user_id", "item_id", "minute"],
        suffixes=("", "_stored"),
    )
    pairs = pairs.drop_duplicates("index").drop_duplicates("id")
    matched = Matched(frame.drop(index=pairs["index"].tolist()))
    if precision_s < 60:
        matched.refine = dict(zip(pairs["id"].astype(int), pairs["ts"].astype(int), strict=True))
    matched.counts = WriteCounts(0, len(matched.refine), len(pairs) - len(matched.refine))
    return matched


def _stored_plays(conn: Connection, dataset: int, plays: pd.DataFrame) -> pd.DataFrame:
    """``id, user_id, item_id, ts`` of the stored plays that could match ``plays`` (their users,
    within a minute of their time span)."""
    inter = T_INTERACTIONS
    low = int(plays["ts"].min()) - MINUTE_MS
    high = int(plays["ts"].max()) + MINUTE_MS
    parts = [
        select_frame(
            conn,
            sa.select(inter.c.id, inter.c.user_id, inter.c.item_id, inter.c.ts).where(
                inter.c.dataset_id == dataset,
                inter.c.event == "play",
                inter.c.user_id.in_(chunk),
                inter.c.ts.between(low, high),
            ),
            ["id", "user_id", "item_id", "ts"],
        )
        for chunk in chunks(sorted(int(u) for u in np.unique(plays["user_id"])), IN_CHUNK)
    ]
    return pd.concat(parts, ignore_index=True).astype("int64")


def refine_times(conn: Connection, refine: dict[int, int]) -> None:
    """Set the refined times of matched stored plays (``id -> ts``)."""
    if not refine:
        return
    inter = T_INTERACTIONS
    statement = (
        inter.update().where(inter.c.id == sa.bindparam("b_id")).values(ts=sa.bindparam("b_ts"))
    )
    rows = [{"b_id": ident, "b_ts": ts} for ident, ts in sorted(refine.items())]
    for chunk in chunks(rows):
        conn.execute(statement, list(chunk))
