"""What the store checks in a batch before writing any of it: consistency and the length limits."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from timbre.errors import DataError
from timbre.records import MAX_CHARS, ImportBatch, check_dataset_name
from timbre.store.schema import EVENTS, KINDS

#: The play precisions a batch may declare (``ImportBatch.play_precision_s``).
PLAY_PRECISIONS = (None, 1, 60)
#: Per frame of a batch: which of its columns hold which kind of value (see ``MAX_CHARS``).
_LIMITED = {
    "items": (("key", "item id"), ("name", "item name"), ("artist", "artist name")),
    "users": (("key", "user id"), ("name", "user name")),
}


def validate_batch(batch: ImportBatch) -> None:
    """Refuse an inconsistent batch before anything is written.

    Raises
    ------
    DataError
        An unknown event or item kind, a non-finite or negative weight, an empty user or item key,
        interactions without a data set name or with a bad one (see
        :func:`~timbre.records.check_dataset_name`), or an unknown play precision.
    """
    inter = batch.interactions
    if len(inter):
        bad_events = sorted(set(inter["event"].astype(str)) - set(EVENTS))
        if bad_events:
            raise DataError(
                f"unknown interaction event(s) {bad_events}; expected one of {', '.join(EVENTS)}"
            )
        weights = pd.to_numeric(inter["weight"], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(weights)):
            raise DataError(
                f"{int((~np.isfinite(weights)).sum())} interaction weights are not finite numbers"
            )
        if (weights < 0).any():
            raise DataError(f"{int((weights < 0).sum())} interaction weights are negative")
        if (inter["user_key"].astype(str) == "").any() or (
            inter["item_key"].astype(str) == ""
        ).any():
            raise DataError("interactions with an empty user or item key")
        if not batch.dataset.strip():
            raise DataError("a data set name is required for interactions")
        check_dataset_name(batch.dataset)
    if len(batch.items):
        bad_kinds = sorted(set(batch.items["kind"].astype(str)) - set(KINDS))
        if bad_kinds:
            raise DataError(f"unknown item kind(s) {bad_kinds}; expected track, artist or album")
    if batch.play_precision_s not in PLAY_PRECISIONS:
        raise DataError(f"play precision must be 1 or 60 seconds, got {batch.play_precision_s!r}")


def _too_long(values: pd.Series, what: str) -> pd.Series:
    """Which of ``values`` (missing ones never) are longer than ``MAX_CHARS[what]``."""
    lengths = values.astype("string").str.len()
    return (lengths > MAX_CHARS[what]).fillna(False).astype(bool)


def _oversized_keys(frame: pd.DataFrame, columns: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Key -> the first kind of value that is too long, for the rows of ``frame`` with one."""
    bad: dict[str, str] = {}
    for column, what in columns:
        if column not in frame:
            continue
        for key in frame.loc[_too_long(frame[column], what), "key"].astype(str):
            bad.setdefault(key, what)
    return bad


def _reason(what: str) -> str:
    return f"{what} longer than {MAX_CHARS[what]} characters"


def drop_oversized(batch: ImportBatch) -> None:
    """Drop, in place, every row whose id or name is longer than ``MAX_CHARS`` allows.

    An item or user with a too long id or name goes with every row naming it (interactions, tags,
    features, friendships, users' tags); a too long tag goes alone. The report counts the dropped
    interactions per reason (the dropped items, for a batch without interactions) and the dropped
    tags, and ``accepted`` loses them. The same rows are dropped whatever the backend.

    Raises
    ------
    DataError
        The batch had interactions and none is left (nothing is written).
    """
    report = batch.report
    bad_items = _oversized_keys(batch.items, _LIMITED["items"])
    bad_users = _oversized_keys(batch.users, _LIMITED["users"])
    inter = batch.interactions
    if len(inter):
        users, items = inter["user_key"].astype(str), inter["item_key"].astype(str)
        why = items.map(bad_items).astype(object)
        why = why.where(why.notna(), users.map(bad_users))
        why = why.where(why.notna() | ~_too_long(items, "item id"), "item id")
        why = why.where(why.notna() | ~_too_long(users, "user id"), "user id")
        dropped = Counter(why.dropna())
        for what, count in sorted(dropped.items()):
            report.drop(_reason(what), count)
        report.accepted = max(0, report.accepted - sum(dropped.values()))
        batch.interactions = inter[why.isna()].reset_index(drop=True)
        if not len(batch.interactions):
            raise DataError(
                f"nothing left to import: every interaction was dropped ({_reasons(dropped)})"
            )
    elif bad_items:
        dropped = Counter(bad_items.values())
        for what, count in sorted(dropped.items()):
            report.drop(_reason(what), count)
        report.accepted = max(0, report.accepted - len(bad_items))
    _drop_naming(batch, set(bad_items), set(bad_users))


def _reasons(dropped: Counter[str]) -> str:
    return ", ".join(f"{n:,} {_reason(what)}" for what, n in sorted(dropped.items()))


def _drop_naming(batch: ImportBatch, items: set[str], users: set[str]) -> None:
    """Drop the rows of every frame but the interactions that name one of ``items`` or
    ``users``, and the tags that are too long themselves (counted)."""
    batch.items = batch.items[~batch.items["key"].astype(str).isin(items)].reset_index(drop=True)
    batch.users = batch.users[~batch.users["key"].astype(str).isin(users)].reset_index(drop=True)
    batch.features = batch.features[~batch.features["item_key"].astype(str).isin(items)]
    friends = batch.friends
    batch.friends = friends[
        ~(
            friends["user_key"].astype(str).isin(users)
            | friends["friend_key"].astype(str).isin(users)
        )
    ]
    for name in ("tags", "user_tags"):
        frame: pd.DataFrame = getattr(batch, name)
        long_tag = _too_long(frame["tag"], "tag")
        gone = frame["item_key"].astype(str).isin(items) | long_tag
        if "user_key" in frame:
            gone |= frame["user_key"].astype(str).isin(users)
        batch.report.drop(_reason("tag"), int(long_tag.sum()))
        setattr(batch, name, frame[~gone].reset_index(drop=True))
