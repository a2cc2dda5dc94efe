"""Train / test splits of one data set by a frozen spec: per-user hold-out, leave-k-out, per-user
time, and one global time cut."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre.errors import ParameterError, TimbreError
from timbre.interactions import InteractionData, build_matrix
from timbre.records import TOP_TAGS, top_values

log = logging.getLogger(__name__)

Protocol = Literal["user-holdout", "leave-k-out", "temporal", "global-time"]
PROTOCOLS: tuple[str, ...] = get_args(Protocol)
#: The validation split of a split with seed ``s`` uses seed ``s + 1000`` on its training part.
VALIDATION_SEED_OFFSET = 1000


@dataclass(frozen=True)
class Split:
    """A train / test split of one data set over the same users and items.

    Attributes
    ----------
    train
        The data to fit models on (same vocabularies as the full data).
    test
        CSR users x items of held-out interactions; disjoint from ``train.user_items``.
    info
        Protocol, its parameters, counts, and users not evaluated with the reason.
    """

    train: InteractionData
    test: sp.csr_matrix
    info: dict[str, Any]

    @property
    def test_users(self) -> NDArray[np.int64]:
        """Users with at least one held-out interaction (the ones evaluated)."""
        return np.flatnonzero(np.diff(self.test.indptr)).astype(np.int64)


@dataclass(frozen=True)
class SplitSpec:
    """How to split a data set: the protocol and its parameters (one frozen value, passed
    unchanged from the CLI or the app to the splitter, the sweeps and the records).

    Attributes
    ----------
    protocol
        ``user-holdout`` (a random ``test_fraction`` of each user's items), ``leave-k-out``
        (``k_out`` random items per user), ``temporal`` (each user's latest
        ``test_fraction`` of events) or ``global-time`` (train before one moment, test after).
    test_fraction, k_out, seed
        The protocol's parameters (``seed`` does not apply to the two time protocols).
    cut
        ``global-time`` only: the moment (ISO 8601, UTC unless it says otherwise) that
        separates train from test; ``None`` puts it where the latest ``test_fraction`` of all
        timed events begins.
    """

    protocol: Protocol = "user-holdout"
    test_fraction: float = 0.2
    seed: int = 0
    k_out: int = 1
    cut: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ParameterError(
                f"split must be one of {', '.join(PROTOCOLS)}; got {self.protocol!r}"
            )
        if not 0.0 < self.test_fraction < 1.0:
            raise ParameterError(f"test_fraction must be between 0 and 1, got {self.test_fraction}")
        if self.k_out < 1:
            raise ParameterError(f"k_out must be at least 1, got {self.k_out}")
        if self.cut is not None:
            if self.protocol != "global-time":
                raise ParameterError("a cut moment applies to the global-time split only")
            parse_moment(self.cut)

    def validation(self) -> SplitSpec:
        """The spec of the validation split, carved from a split's training part: the same
        protocol and parameters, seed ``seed + VALIDATION_SEED_OFFSET``; a global time cut
        moves to where the training part's latest ``test_fraction`` begins."""
        return dataclasses.replace(self, seed=self.seed + VALIDATION_SEED_OFFSET, cut=None)

    def make(self, data: InteractionData) -> Split:
        """Split ``data`` by this spec."""
        if self.protocol == "user-holdout":
            return split_user_holdout(data, self.test_fraction, self.seed)
        if self.protocol == "leave-k-out":
            return split_leave_k_out(data, self.k_out, self.seed)
        if self.protocol == "global-time":
            return split_global_time(data, self.test_fraction, self.cut)
        return split_temporal(data, self.test_fraction)


def parse_moment(text: str) -> pd.Timestamp:
    """An ISO 8601 moment as a UTC timestamp (text without a zone counts as UTC)."""
    try:
        moment = pd.Timestamp(text)
    except (ValueError, TypeError) as error:
        raise ParameterError(
            f"cut must be a date or time such as 2009-01-01; got {text!r}"
        ) from error
    if moment is pd.NaT:
        raise ParameterError(f"cut must be a date or time such as 2009-01-01; got {text!r}")
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


#: Growing lists of arrays: train rows, columns, weights, then test rows, columns, weights.
Parts = tuple[list[Any], list[Any], list[Any], list[Any], list[Any], list[Any]]


def _new_parts() -> Parts:
    return ([], [], [], [], [], [])


def _finish_split(
    data: InteractionData, parts: Parts, info: dict[str, Any], before: pd.Timestamp | None = None
) -> Split:
    """The split of ``parts``; ``before`` (a global time cut) also keeps every event and tag
    assignment at or after it out of the training side."""
    shape = (data.n_users, data.n_items)
    train_rows, train_cols, train_weights, test_rows, test_cols, test_weights = parts

    def cat(parts: list[NDArray[Any]], dtype: Any) -> NDArray[Any]:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    train = build_matrix(
        cat(train_rows, np.int64), cat(train_cols, np.int64), cat(train_weights, np.float64), shape
    )
    test = build_matrix(
        cat(test_rows, np.int64), cat(test_cols, np.int64), cat(test_weights, np.float64), shape
    )
    train_data, held_out_tags = _training_side(data, train, test, before)
    info.update(
        {
            "users": data.n_users,
            "items": data.n_items,
            "test_users": int((np.diff(test.indptr) > 0).sum()),
            "train_interactions": int(train.nnz),
            "test_interactions": int(test.nnz),
            "train_fingerprint": train_data.fingerprint,
            "tag_assignments_held_out": held_out_tags,
            **_cold_test_pairs(train, test),
        }
    )
    skipped = info.get("not_evaluated", {})
    if skipped:
        log.info("split %s: users not evaluated: %s", info["protocol"], skipped)
    return Split(train_data, test, info)


def _cold_test_pairs(train: sp.csr_matrix, test: sp.csr_matrix) -> dict[str, float | int]:
    """How many test pairs name an item nobody played in train: no collaborative model can
    recommend those (a ceiling on every model's recall)."""
    listened = np.diff(train.tocsc().indptr) > 0
    cold = int((~listened[test.indices]).sum())
    share = cold / test.nnz if test.nnz else 0.0
    return {"test_pairs_without_train_listener": cold, "test_pairs_without_train_share": share}


def _train_events(
    data: InteractionData, test: sp.csr_matrix, before: pd.Timestamp | None
) -> pd.DataFrame | None:
    """The timed events of the training part (a nested temporal split needs them)."""
    if data.events is None:
        return None
    if before is not None:
        return data.events[data.events["timestamp"] < before].reset_index(drop=True)
    pairs = test.tocoo()
    codes = pairs.row.astype(np.int64) * data.n_items + pairs.col.astype(np.int64)
    events = data.events
    own = events["user"].to_numpy(np.int64) * data.n_items + events["item"].to_numpy(np.int64)
    return events[~np.isin(own, codes)].reset_index(drop=True)


def _training_side(
    data: InteractionData,
    train: sp.csr_matrix,
    test: sp.csr_matrix,
    before: pd.Timestamp | None = None,
) -> tuple[InteractionData, int]:
    """The data a model may learn from: the train matrix, and item tags without the tags that
    test users gave to their own held-out items (side information must not leak the test) and,
    after a global time cut, without the tags given at or after it (assignments without a
    date are kept).

    Returns the training data and how many tag assignments were left out.
    """
    side = dataclasses.replace(data, user_items=train, events=_train_events(data, test, before))
    if data.tag_events is None or data.tag_weights is None or not len(data.tag_events):
        return side, 0
    events = data.tag_events
    test_pairs = test.tocoo()
    held = np.isin(
        events["user"].to_numpy(np.int64) * data.n_items + events["item"].to_numpy(np.int64),
        test_pairs.row.astype(np.int64) * data.n_items + test_pairs.col.astype(np.int64),
    )
    if before is not None and "timestamp" in events.columns:
        held |= (events["timestamp"] >= before).to_numpy(dtype=bool, na_value=False)
    if not held.any():
        return side, 0
    leaked = events[held].groupby(["item", "tag"]).size().rename("leaked")
    weights = data.tag_weights.join(leaked, on=["item", "tag"])
    weights["weight"] = weights["weight"] - weights["leaked"].fillna(0.0)
    weights = weights[weights["weight"] > 0].drop(columns="leaked").reset_index(drop=True)
    top = top_values(weights["item"], weights["tag"], weights["weight"], TOP_TAGS)
    meta = data.item_meta.copy()
    meta["tags"] = [top.get(i, []) for i in range(data.n_items)]
    side = dataclasses.replace(
        side, item_meta=meta, tag_weights=weights, tag_events=events[~held].reset_index(drop=True)
    )
    return side, int(held.sum())


def split_user_holdout(data: InteractionData, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Per user, hold out a random ``test_fraction`` of their items (at least one, and never all).

    Users with a single item cannot give one away: they stay in train, are not evaluated, and
    are counted in ``info["not_evaluated"]``.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ParameterError(f"test_fraction must be between 0 and 1, got {test_fraction}")

    def held_out(n: int) -> int:
        return int(np.clip(round(test_fraction * n), 1, n - 1)) if n >= 2 else 0

    parts, skipped = _random_per_user(
        data, seed, held_out, "fewer than 2 items: nothing to hold out"
    )
    info = {
        "protocol": "user-holdout",
        "test_fraction": test_fraction,
        "seed": seed,
        "not_evaluated": skipped,
    }
    return _finish_split(data, parts, info)


def split_leave_k_out(data: InteractionData, k: int = 1, seed: int = 0) -> Split:
    """Per user, hold out ``k`` random items; users with ``k`` items or fewer are not evaluated."""
    if k < 1:
        raise ParameterError(f"k must be at least 1, got {k}")
    too_few = f"{k} items or fewer: none would be left to train on"
    parts, skipped = _random_per_user(data, seed, lambda n: k if n > k else 0, too_few)
    info = {"protocol": "leave-k-out", "k_out": k, "seed": seed, "not_evaluated": skipped}
    return _finish_split(data, parts, info)


def _random_per_user(
    data: InteractionData, seed: int, held_out: Callable[[int], int], too_few: str
) -> tuple[Parts, dict[str, int]]:
    """Per user, a random ``held_out(n)`` of their ``n`` items to test, the rest to train;
    users who give none away are counted under ``too_few``."""
    rng = np.random.default_rng(seed)
    matrix = data.user_items
    parts = _new_parts()
    skipped: Counter[str] = Counter()
    for user in range(data.n_users):
        start, end = matrix.indptr[user], matrix.indptr[user + 1]
        items, weights = matrix.indices[start:end], matrix.data[start:end]
        n_test = held_out(len(items))
        if n_test == 0:
            skipped[too_few] += 1
        order = rng.permutation(len(items))
        _append(parts, user, items, weights, order[n_test:], order[:n_test])
    return parts, dict(skipped)


def split_temporal(data: InteractionData, test_fraction: float = 0.2) -> Split:
    """Per user, the latest ``test_fraction`` of their events are the test set.

    Test items the user had already played before the cut stay in train only (a ranking never
    shows train items). Users whose history is too short, or who only replay earlier items
    after the cut, are not evaluated and are counted by reason.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ParameterError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    events = _timed_events(data).sort_values(["user", "timestamp", "item"], kind="stable")
    parts = _new_parts()
    skipped: Counter[str] = Counter()
    for _user, group in events.groupby("user", sort=True):
        n = len(group)
        items = group["item"].to_numpy(np.int64)
        weights = group["weight"].to_numpy(np.float64)
        n_test = int(np.clip(round(test_fraction * n), 1, n - 1)) if n >= 2 else 0
        cut = n - n_test
        train_items = set(items[:cut].tolist())
        test_mask = np.zeros(n, dtype=bool)
        test_mask[cut:] = [i not in train_items for i in items[cut:]]
        if n < 2:
            skipped["fewer than 2 events: no history before the cut"] += 1
        elif not test_mask.any():
            skipped["after the cut only items already played before"] += 1
        user_index = np.full(n, group["user"].iloc[0], dtype=np.int64)
        parts[0].append(user_index[~test_mask])
        parts[1].append(items[~test_mask])
        parts[2].append(weights[~test_mask])
        parts[3].append(user_index[test_mask])
        parts[4].append(items[test_mask])
        parts[5].append(weights[test_mask])
    info = {"protocol": "temporal", "test_fraction": test_fraction, "not_evaluated": dict(skipped)}
    return _finish_split(data, parts, info)


def _timed_events(data: InteractionData) -> pd.DataFrame:
    if data.events is None or data.events.empty:
        raise TimbreError(
            f"data set {data.dataset!r} has no timestamps: use user-holdout or leave-k-out"
        )
    return data.events


def _cut_moment(stamps: pd.Series, test_fraction: float, cut: str | None) -> pd.Timestamp:
    """The given moment, or the start of the latest ``test_fraction`` of the events; either
    way at least one event must fall on each side."""
    first, last = stamps.min(), stamps.max()
    if cut is None:
        ordered = stamps.sort_values(kind="stable").reset_index(drop=True)
        moment = ordered.iloc[min(int(len(ordered) * (1.0 - test_fraction)), len(ordered) - 1)]
    else:
        moment = parse_moment(cut)
    if not first < moment <= last:
        raise TimbreError(
            f"the cut {moment.isoformat()} leaves no events on one side: this data set's "
            f"events run from {first.isoformat()} to {last.isoformat()}"
        )
    return pd.Timestamp(moment)


def split_global_time(
    data: InteractionData, test_fraction: float = 0.2, cut: str | None = None
) -> Split:
    """One moment for everyone: train on the events before it, test on what came after.

    The moment is ``cut`` or, without one, where the latest ``test_fraction`` of all timed
    events begins. A user's test items are the items they first played after the moment;
    replays of earlier items and everything from users with no history before it are
    used for neither side and counted, and so are events without a timestamp.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ParameterError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    events = _timed_events(data)
    timed = events[events["timestamp"].notna()]
    moment = _cut_moment(timed["timestamp"], test_fraction, cut)
    before = timed[timed["timestamp"] < moment]
    after = timed[timed["timestamp"] >= moment]
    train = build_matrix(
        before["user"].to_numpy(np.int64),
        before["item"].to_numpy(np.int64),
        before["weight"].to_numpy(np.float64),
        (data.n_users, data.n_items),
    )
    has_history = np.diff(train.indptr) > 0
    users, items = after["user"].to_numpy(np.int64), after["item"].to_numpy(np.int64)
    played = np.asarray(train[users, items]).ravel() > 0 if len(after) else np.zeros(0, bool)
    new = has_history[users] & ~played
    parts = _new_parts()
    for target, chosen in ((0, before), (3, after[new])):
        parts[target].append(chosen["user"].to_numpy(np.int64))
        parts[target + 1].append(chosen["item"].to_numpy(np.int64))
        parts[target + 2].append(chosen["weight"].to_numpy(np.float64))
    info = {
        "protocol": "global-time",
        "cut": moment.isoformat(),
        "test_fraction": test_fraction,
        "events_without_timestamp": int(len(events) - len(timed)),
        "events_after_cut_unused": int((~new).sum()),
        "not_evaluated": _global_time_skipped(users, new, has_history),
    }
    return _finish_split(data, parts, info, before=moment)


def _global_time_skipped(
    users: NDArray[np.int64], new: NDArray[np.bool_], has_history: NDArray[np.bool_]
) -> dict[str, int]:
    """Users who are not evaluated, by reason."""
    active = np.unique(users)
    evaluated = np.unique(users[new])
    newcomers = active[~has_history[active]]
    replayers = np.setdiff1d(active[has_history[active]], evaluated)
    quiet = int(has_history.sum()) - int(has_history[active].sum())
    skipped = {
        "no events after the cut": quiet,
        "no events before the cut": len(newcomers),
        "after the cut only items already played before": len(replayers),
    }
    return {reason: int(n) for reason, n in skipped.items() if n}


def _append(
    parts: Parts,
    user: int,
    items: NDArray[Any],
    weights: NDArray[Any],
    train_idx: NDArray[Any],
    test_idx: NDArray[Any],
) -> None:
    parts[0].append(np.full(len(train_idx), user, dtype=np.int64))
    parts[1].append(items[train_idx])
    parts[2].append(weights[train_idx])
    parts[3].append(np.full(len(test_idx), user, dtype=np.int64))
    parts[4].append(items[test_idx])
    parts[5].append(weights[test_idx])


def make_split(data: InteractionData, spec: SplitSpec | None = None) -> Split:
    """Split ``data`` by ``spec`` (default: an 80/20 user hold-out with seed 0)."""
    return (spec or SplitSpec()).make(data)
