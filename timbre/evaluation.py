"""Offline evaluation: split and sweep specs, splits, metrics, the experiment runner, tests."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre import spaces
from timbre.errors import DataError, ParameterError, TimbreError, TimbreWarning
from timbre.interactions import InteractionData, build_matrix
from timbre.models import Recommender, create_model
from timbre.models.base import ProgressCallback
from timbre.records import TOP_TAGS, top_values
from timbre.spaces import SpaceName

log = logging.getLogger(__name__)

Protocol = Literal["user-holdout", "leave-k-out", "temporal"]
PROTOCOLS: tuple[str, ...] = get_args(Protocol)
#: Ranking metrics, per user.
RANKING_METRICS: tuple[str, ...] = ("ndcg", "precision", "recall", "map", "hit_rate")
#: Metrics of the whole set of lists.
LIST_METRICS: tuple[str, ...] = ("coverage", "diversity", "novelty", "arp")
#: Where intra-list diversity is measured unless told otherwise (the Tune panel too).
ILD_SPACE: SpaceName = "binary"
SweepMode = Literal["grid", "random"]
SWEEP_MODES: tuple[str, ...] = get_args(SweepMode)


# ----- splits ---------------------------------------------------------------------------------
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
        (``k_out`` random items per user) or ``temporal`` (each user's latest
        ``test_fraction`` of events).
    test_fraction, k_out, seed
        The protocol's parameters (``seed`` does not apply to ``temporal``).
    """

    protocol: Protocol = "user-holdout"
    test_fraction: float = 0.2
    seed: int = 0
    k_out: int = 1

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ParameterError(
                f"split must be one of {', '.join(PROTOCOLS)}; got {self.protocol!r}"
            )
        if not 0.0 < self.test_fraction < 1.0:
            raise ParameterError(f"test_fraction must be between 0 and 1, got {self.test_fraction}")
        if self.k_out < 1:
            raise ParameterError(f"k_out must be at least 1, got {self.k_out}")

    def make(self, data: InteractionData) -> Split:
        """Split ``data`` by this spec."""
        if self.protocol == "user-holdout":
            return split_user_holdout(data, self.test_fraction, self.seed)
        if self.protocol == "leave-k-out":
            return split_leave_k_out(data, self.k_out, self.seed)
        return split_temporal(data, self.test_fraction)


#: Growing lists of arrays: train rows, columns, weights, then test rows, columns, weights.
Parts = tuple[list[Any], list[Any], list[Any], list[Any], list[Any], list[Any]]


def _new_parts() -> Parts:
    return ([], [], [], [], [], [])


def _finish_split(data: InteractionData, parts: Parts, info: dict[str, Any]) -> Split:
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
    train_data, held_out_tags = _training_side(data, train, test)
    info.update(
        {
            "users": data.n_users,
            "items": data.n_items,
            "test_users": int((np.diff(test.indptr) > 0).sum()),
            "train_interactions": int(train.nnz),
            "test_interactions": int(test.nnz),
            "train_fingerprint": train_data.fingerprint,
            "tag_assignments_held_out": held_out_tags,
        }
    )
    skipped = info.get("not_evaluated", {})
    if skipped:
        log.info("split %s: users not evaluated: %s", info["protocol"], skipped)
    return Split(train_data, test, info)


def _training_side(
    data: InteractionData, train: sp.csr_matrix, test: sp.csr_matrix
) -> tuple[InteractionData, int]:
    """The data a model may learn from: the train matrix, and item tags without the tags that
    test users gave to their own held-out items (side information must not leak the test).

    Returns the training data and how many tag assignments were left out.
    """
    side = dataclasses.replace(data, user_items=train, events=None)
    if data.tag_events is None or data.tag_weights is None or not len(data.tag_events):
        return side, 0
    events = data.tag_events
    test_pairs = test.tocoo()
    held = np.isin(
        events["user"].to_numpy(np.int64) * data.n_items + events["item"].to_numpy(np.int64),
        test_pairs.row.astype(np.int64) * data.n_items + test_pairs.col.astype(np.int64),
    )
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
    if data.events is None or data.events.empty:
        raise TimbreError(
            f"data set {data.dataset!r} has no timestamps: use user-holdout or leave-k-out"
        )
    events = data.events.sort_values(["user", "timestamp", "item"], kind="stable")
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


# ----- metrics --------------------------------------------------------------------------------
def ranking_metrics(
    recommended: NDArray[np.int64], test: sp.csr_matrix, users: NDArray[np.int64], k: int
) -> pd.DataFrame:
    """Per-user ranking metrics at ``k`` with the standard definitions.

    Parameters
    ----------
    recommended
        ``len(users) x k`` item indices, best first, ``-1`` where a list is shorter.
    test
        Held-out interactions (users x items); only their presence counts (binary relevance).
    users
        The user of each row of ``recommended``.

    Returns
    -------
    pandas.DataFrame
        One row per user with at least one test item, indexed by user: ``precision`` = hits / k,
        ``recall`` = hits / |test_u|, ``ndcg`` = DCG / IDCG with gains 1 and IDCG over
        min(k, |test_u|), ``map`` = sum of precision at each hit / min(k, |test_u|),
        ``hit_rate`` = 1 if any hit, and ``test_items`` = |test_u|. Users with an empty test set
        are left out (a ``TimbreWarning`` says how many).

    Examples
    --------
    >>> test = sp.csr_matrix(np.array([[1, 0, 1, 0]]))
    >>> frame = ranking_metrics(np.array([[2, 1]]), test, np.array([0]), k=2)
    >>> frame.round(4).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'ndcg': 0.6131, 'precision': 0.5, 'recall': 0.5, 'map': 0.5, 'hit_rate': 1.0,
      'test_items': 2}]
    """
    if k < 1:
        raise ParameterError(f"k must be at least 1, got {k}")
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    rows: list[dict[str, float]] = []
    index: list[int] = []
    empty = 0
    for position, user in enumerate(users):
        truth = test.indices[test.indptr[user] : test.indptr[user + 1]]
        if len(truth) == 0:
            empty += 1
            continue
        ranked = recommended[position, :k]
        hits = np.isin(ranked, truth) & (ranked >= 0)
        n_hits = int(hits.sum())
        ideal = min(k, len(truth))
        dcg = float(discounts[: len(ranked)][hits].sum())
        idcg = float(discounts[:ideal].sum())
        precision_at = np.cumsum(hits) / np.arange(1, len(ranked) + 1)
        rows.append(
            {
                "ndcg": dcg / idcg,
                "precision": n_hits / k,
                "recall": n_hits / len(truth),
                "map": float(precision_at[hits].sum()) / ideal,
                "hit_rate": float(n_hits > 0),
                "test_items": len(truth),
            }
        )
        index.append(int(user))
    if empty:
        warnings.warn(
            f"{empty} user(s) have no test items: left out of the metrics",
            TimbreWarning,
            stacklevel=2,
        )
    frame = pd.DataFrame(rows, index=pd.Index(index, name="user"))
    if frame.empty:
        frame = pd.DataFrame(columns=[*RANKING_METRICS, "test_items"])
    return frame


def novelty(recommended: NDArray[np.int64], popularity: NDArray[np.float64], n_users: int) -> float:
    """Mean self-information ``-log2(p_i)`` of recommended items, ``p_i`` = share of users who
    played item i in train (items nobody played count as played by one user)."""
    items = recommended[recommended >= 0]
    if len(items) == 0:
        return float("nan")
    share = np.maximum(popularity[items], 1.0) / n_users
    return float(np.mean(-np.log2(share)))


def average_popularity(recommended: NDArray[np.int64], popularity: NDArray[np.float64]) -> float:
    """ARP: mean over lists of the mean training popularity (users) of their items."""
    values = []
    for row in recommended:
        items = row[row >= 0]
        if len(items):
            values.append(popularity[items].mean())
    return float(np.mean(values)) if values else float("nan")


def coverage(recommended: NDArray[np.int64], n_items: int) -> float:
    """Catalogue coverage: share of all items that appear in at least one list."""
    items = np.unique(recommended[recommended >= 0])
    return len(items) / n_items if n_items else float("nan")


def intra_list_diversity(recommended: NDArray[np.int64], space: spaces.VectorSpace) -> float:
    """ILD: mean over lists of the mean pairwise dissimilarity ``1 - similarity`` of their items,
    similarity measured in ``space`` (its name belongs in every label of the number).

    In [0, 1] for spaces whose similarities are non-negative (``space.nonnegative``: binary and
    log-weighted interactions, Jaccard); in [0, 2] for spaces with negative cosines (SVD,
    factors, z-scored audio features). Lists shorter than two items are left out.

    For cosine spaces (unit or zero rows) the mean pairwise similarity of a list is computed
    without the pairs: ``(|sum of its vectors|^2 - sum of |v|^2) / (n (n - 1))``, one sparse
    product for all lists.

    Examples
    --------
    >>> unit = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    >>> space = spaces.VectorSpace("items", "binary", "cosine", unit, np.ones(3))
    >>> round(intra_list_diversity(np.array([[0, 1, 2], [0, 1, -1]]), space), 4)
    0.3333
    """
    lists = [row[row >= 0] for row in np.asarray(recommended)]
    lists = [items for items in lists if len(items) >= 2]
    if not lists:
        return float("nan")
    if space.measure != "cosine":
        return float(np.mean([_pairwise_dissimilarity(items, space) for items in lists]))
    sizes = np.array([len(items) for items in lists], dtype=np.float64)
    members = sp.csr_matrix(
        (np.ones(int(sizes.sum())), np.concatenate(lists), np.concatenate([[0], np.cumsum(sizes)])),
        shape=(len(lists), len(space)),
    )
    sums = members @ space.vectors
    squared = (
        np.asarray(sums.multiply(sums).sum(axis=1)).ravel()
        if sp.issparse(sums)
        else np.square(sums, dtype=np.float64).sum(axis=1)
    )
    own = members @ np.where(space.known, 1.0, 0.0)  # |v|^2 is 1 for a known row, else 0
    mean_similarity = (squared - own) / (sizes * (sizes - 1))
    return float(np.mean(1.0 - mean_similarity))


def _pairwise_dissimilarity(items: NDArray[np.int64], space: spaces.VectorSpace) -> float:
    sims = space.similarity(items)
    n = len(items)
    return float(1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1)))


def metric_label(metric: str, ild_space: str = ILD_SPACE) -> str:
    """A metric's name for tables, charts and panels: intra-list diversity names its space.

    Examples
    --------
    >>> metric_label("diversity"), metric_label("diversity", "content"), metric_label("ndcg")
    ('ILD (binary)', 'ILD (content)', 'ndcg')
    """
    return f"ILD ({ild_space})" if metric == "diversity" else metric


def list_metrics(
    recommended: NDArray[np.int64], train: InteractionData, space: spaces.VectorSpace
) -> dict[str, float]:
    """The beyond-accuracy metrics of a set of lists (one definition, every panel and table).

    ``coverage`` (share of the catalogue in any list), ``diversity`` (intra-list diversity in
    ``space``), ``novelty`` (mean self-information against train popularity) and ``arp``
    (average recommendation popularity, train listeners).
    """
    return {
        "coverage": coverage(recommended, train.n_items),
        "diversity": intra_list_diversity(recommended, space),
        "novelty": novelty(recommended, train.listeners, train.n_users),
        "arp": average_popularity(recommended, train.listeners),
    }


# ----- evaluating models ---------------------------------------------------------------------
@dataclass
class ModelResult:
    """The evaluation of one model on one split."""

    name: str
    model: str
    params: dict[str, Any]
    per_user: pd.DataFrame
    summary: dict[str, float]
    recommended: NDArray[np.int64]
    scores: NDArray[np.float32]
    users: NDArray[np.int64]
    fit_seconds: float
    recommend_seconds: float
    run_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON contract of ``timbre evaluate --json`` for one model."""
        return {
            **{name: self.summary[name] for name in (*RANKING_METRICS, *LIST_METRICS)},
            "users": len(self.per_user),
            "fit_seconds": round(self.fit_seconds, 4),
            "recommend_seconds": round(self.recommend_seconds, 4),
        }


def recommend_lists(
    model: Recommender, users: NDArray[np.int64], k: int
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Top-``k`` lists (train items excluded) as ``len(users) x k`` arrays padded with -1 / NaN."""
    items = np.full((len(users), k), -1, dtype=np.int64)
    scores = np.full((len(users), k), np.nan, dtype=np.float32)
    for row, ranking in enumerate(model.recommend_batch(users, n=k, exclude_seen=True)):
        items[row, : len(ranking)] = ranking.items
        scores[row, : len(ranking)] = ranking.scores
    return items, scores


def evaluate_model(
    model: Recommender,
    split: Split,
    k: int = 10,
    name: str | None = None,
    ild_space: SpaceName = ILD_SPACE,
    progress: ProgressCallback | None = None,
) -> ModelResult:
    """Fit ``model`` on ``split.train`` and measure its top-``k`` lists for every test user.

    Intra-list diversity is measured in ``ild_space`` of the training data
    (:func:`timbre.spaces.space`, built once per split).
    """
    started = time.perf_counter()
    model.fit(split.train, progress)
    fit_seconds = time.perf_counter() - started
    users = split.test_users
    if len(users) == 0:
        raise DataError("the split has no test users: nothing to evaluate")
    started = time.perf_counter()
    recommended, scores = recommend_lists(model, users, k)
    recommend_seconds = time.perf_counter() - started
    per_user = ranking_metrics(recommended, split.test, users, k)
    summary = {metric: float(per_user[metric].mean()) for metric in RANKING_METRICS}
    summary.update(
        list_metrics(recommended, split.train, spaces.space(split.train, "items", ild_space))
    )
    return ModelResult(
        name=name or model.name,
        model=model.name,
        params=model.get_params(),
        per_user=per_user,
        summary=summary,
        recommended=recommended,
        scores=scores,
        users=users,
        fit_seconds=fit_seconds,
        recommend_seconds=recommend_seconds,
    )


@dataclass
class Experiment:
    """Several models evaluated on one split."""

    split: Split
    k: int
    ild_space: str = ILD_SPACE
    results: dict[str, ModelResult] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """``{"split": {...}, "k": K, "ild_space": NAME, "models": {name: {...}}}`` (the CLI's
        ``--json``; ``diversity`` is intra-list diversity in the ``ild_space`` space)."""
        return {
            "split": {k: v for k, v in self.split.info.items()},
            "k": self.k,
            "ild_space": self.ild_space,
            "models": {name: result.as_dict() for name, result in self.results.items()},
        }

    def table(self) -> pd.DataFrame:
        """Mean, standard deviation and 95% interval half-width of each per-user metric."""
        rows = []
        for name, result in self.results.items():
            row: dict[str, Any] = {"model": name, "users": len(result.per_user)}
            for metric in RANKING_METRICS:
                values = result.per_user[metric].to_numpy(dtype=float)
                row[metric] = values.mean()
                row[f"{metric}_sd"] = values.std(ddof=1) if len(values) > 1 else float("nan")
                row[f"{metric}_ci95"] = 1.96 * row[f"{metric}_sd"] / np.sqrt(max(len(values), 1))
            for metric in LIST_METRICS:
                row[metric] = result.summary[metric]
            row["fit_seconds"] = result.fit_seconds
            row["recommend_seconds"] = result.recommend_seconds
            rows.append(row)
        return pd.DataFrame(rows)


def parse_model_specs(
    names: Sequence[str], assignments: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """``["als", "ease"]`` and ``["als.factors=32"]`` -> ``{"als": {"factors": 32}, "ease": {}}``.

    A parameter for a model that is not listed is an error naming it.
    """
    from timbre.models import model_class, parse_params

    specs: dict[str, dict[str, Any]] = {}
    for name in names:
        model_class(name)
        specs[name] = {}
    grouped: dict[str, list[str]] = {}
    for assignment in assignments:
        target, dot, rest = assignment.partition(".")
        if not dot or "=" not in rest:
            raise ParameterError(
                f"parameters are model.key=value (e.g. als.factors=32); got {assignment!r}"
            )
        if target not in specs:
            raise ParameterError(
                f"parameter {assignment!r} is for model {target!r}, which is not among "
                f"--models {','.join(specs)}"
            )
        grouped.setdefault(target, []).append(rest)
    for name, values in grouped.items():
        specs[name] = parse_params(name, values)
    return specs


def run_experiment(
    data: InteractionData,
    models: Mapping[str, Mapping[str, Any]],
    split: SplitSpec | Split | None = None,
    k: int = 10,
    ild_space: SpaceName = ILD_SPACE,
    progress: Callable[[float, str], None] | None = None,
) -> Experiment:
    """Evaluate several models (``{name: params}``) on one split.

    ``split`` is a :class:`SplitSpec` (the split is made here: the same spec gives the same
    split and the same metrics) or a ready :class:`Split`. Model names may carry a label after
    a colon (``als:tuned``) so the same family can appear twice with different parameters.
    """
    report = progress or (lambda _f, _m: None)
    made = split if isinstance(split, Split) else (split or SplitSpec()).make(data)
    experiment = Experiment(made, k, ild_space)
    names = list(models)
    share = 1.0 / max(len(names), 1)
    for position, label in enumerate(names):
        model = create_model(label.split(":", 1)[0], dict(models[label]))

        def inner(fraction: float, message: str, _p: int = position, _l: str = label) -> None:
            report((_p + 0.9 * fraction) * share, f"{_l}: {message}")

        experiment.results[label] = evaluate_model(model, made, k, label, ild_space, inner)
        report((position + 1) * share, f"{label}: evaluated")
    return experiment


def paired_test(a: ModelResult, b: ModelResult, metric: str = "ndcg") -> dict[str, Any]:
    """Compare two models on the same users: mean difference, Wilcoxon and paired t p-values."""
    from scipy import stats

    joined = a.per_user[[metric]].merge(
        b.per_user[[metric]], left_index=True, right_index=True, suffixes=("_a", "_b")
    )
    diff = (joined[f"{metric}_a"] - joined[f"{metric}_b"]).to_numpy(dtype=float)
    if len(diff) < 2 or np.allclose(diff, 0):
        return {
            "metric": metric,
            "users": len(diff),
            "mean_difference": float(diff.mean()) if len(diff) else 0.0,
            "wilcoxon_p": 1.0,
            "t_p": 1.0,
        }
    return {
        "metric": metric,
        "users": len(diff),
        "mean_difference": float(diff.mean()),
        "wilcoxon_p": float(stats.wilcoxon(diff).pvalue),
        "t_p": float(stats.ttest_1samp(diff, 0.0).pvalue),
    }


# ----- sweeps ---------------------------------------------------------------------------------
def parse_grid(model: str, assignments: Sequence[str]) -> dict[str, list[Any]]:
    """``["factors=32,64", "regularization=0.01,0.1"]`` -> typed value lists for ``model``."""
    from timbre.models import parse_params

    grid: dict[str, list[Any]] = {}
    for assignment in assignments:
        key, sep, values = assignment.partition("=")
        if not sep or not values.strip():
            raise ParameterError(f"grid entries are key=v1,v2,...; got {assignment!r}")
        grid[key.strip()] = [
            parse_params(model, [f"{key.strip()}={v.strip()}"])[key.strip()]
            for v in values.split(",")
            if v.strip()
        ]
    if not grid:
        raise ParameterError("a sweep needs at least one --grid key=v1,v2")
    return grid


@dataclass(frozen=True)
class SweepSpec:
    """A hyper-parameter sweep: which model, which values, how many, on which split.

    Attributes
    ----------
    model
        The model family.
    grid
        Values to try per parameter (``{"factors": (32, 64)}``), typed for the model.
    base_params
        Parameters fixed for every configuration.
    budget
        At most this many configurations (``None``: all).
    mode
        ``grid`` (every combination, in order) or ``random`` (a seeded sample).
    metric
        What "best" means (ARP: lower is better; every other metric: higher).
    split
        The split every configuration is evaluated on.
    k
        List length.
    """

    model: str
    grid: Mapping[str, Sequence[Any]]
    base_params: Mapping[str, Any] = field(default_factory=dict)
    budget: int | None = None
    mode: SweepMode = "grid"
    metric: str = "ndcg"
    split: SplitSpec = field(default_factory=SplitSpec)
    k: int = 10

    def __post_init__(self) -> None:
        if self.metric not in (*RANKING_METRICS, *LIST_METRICS):
            known = ", ".join((*RANKING_METRICS, *LIST_METRICS))
            raise ParameterError(f"metric must be one of {known}; got {self.metric!r}")
        if self.mode not in SWEEP_MODES:
            raise ParameterError(f"sweep mode must be grid or random; got {self.mode!r}")
        if not self.grid:
            raise ParameterError("a sweep needs at least one --grid key=v1,v2")
        if self.budget is not None and self.budget < 1:
            raise ParameterError(f"budget must be at least 1, got {self.budget}")

    def configs(self) -> list[dict[str, Any]]:
        """The configurations to try: every combination (``grid``), or a seeded random sample
        (``random``, seeded by the split's seed); at most ``budget`` of them."""
        keys = list(self.grid)
        values = [self.grid[key] for key in keys]
        combos = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]
        if self.mode == "random":
            order = np.random.default_rng(self.split.seed).permutation(len(combos))
            combos = [combos[i] for i in order]
        return combos[: self.budget] if self.budget else combos


def sweep(
    data: InteractionData,
    spec: SweepSpec,
    on_result: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """Evaluate ``spec.model`` for each configuration on one split; rows sorted best first.

    ``on_result(done, total, row)`` is called after each configuration, so early results can be
    shown while the sweep goes on.
    """
    split = spec.split.make(data)
    configs = spec.configs()
    rows = []
    for done, config in enumerate(configs, start=1):
        params = {**dict(spec.base_params), **config}
        model = create_model(spec.model, params)
        result = evaluate_model(model, split, spec.k, spec.model)
        row = {**config, **result.summary, "fit_seconds": result.fit_seconds}
        rows.append(row)
        if on_result:
            on_result(done, len(configs), row)
    frame = pd.DataFrame(rows)
    ascending = spec.metric == "arp"
    return frame.sort_values(spec.metric, ascending=ascending, kind="stable").reset_index(drop=True)


# ----- records and files ---------------------------------------------------------------------
def split_frames(split: Split) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test as ``user_id, item_id, weight`` frames (ids, not indices)."""

    def frame(matrix: sp.csr_matrix) -> pd.DataFrame:
        coo = matrix.tocoo()
        return pd.DataFrame(
            {
                "user_id": split.train.users.ids[coo.row],
                "item_id": split.train.items.ids[coo.col],
                "weight": coo.data.astype(np.float64),
            }
        )

    return frame(split.train.user_items), frame(split.test)


def recommendation_frame(experiment: Experiment) -> pd.DataFrame:
    """``model, user_id, rank, item_id, score`` for every test user of every model."""
    parts = []
    items_vocab = experiment.split.train.items
    users_vocab = experiment.split.train.users
    for label, result in experiment.results.items():
        ranks = np.tile(np.arange(1, experiment.k + 1), len(result.users))
        users = np.repeat(result.users, experiment.k)
        items = result.recommended.ravel()
        keep = items >= 0
        parts.append(
            pd.DataFrame(
                {
                    "model": label,
                    "user_id": users_vocab.ids[users[keep]],
                    "rank": ranks[keep],
                    "item_id": items_vocab.ids[items[keep]],
                    "score": result.scores.ravel()[keep].astype(np.float64),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def best_config(results: pd.DataFrame, swept: Sequence[str]) -> dict[str, Any]:
    """The swept parameters of the first (best) row of :func:`sweep`, as plain Python values."""
    if results.empty:
        raise DataError("the sweep has no results")
    best = {name: results[name].iloc[0] for name in swept}
    return {name: value.item() if hasattr(value, "item") else value for name, value in best.items()}
