"""Offline evaluation: splits, ranking and beyond-accuracy metrics, experiments and sweeps."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy import stats

from timbre.errors import DataError, ParameterError, TimbreError, TimbreWarning
from timbre.interactions import InteractionData, build_matrix
from timbre.models import Recommender, create_model
from timbre.models.base import ProgressCallback, row_normalize

log = logging.getLogger(__name__)

Protocol = Literal["user-holdout", "leave-k-out", "temporal"]
PROTOCOLS: tuple[str, ...] = ("user-holdout", "leave-k-out", "temporal")
#: Ranking metrics, per user.
RANKING_METRICS: tuple[str, ...] = ("ndcg", "precision", "recall", "map", "hit_rate")
#: Metrics of the whole set of lists.
LIST_METRICS: tuple[str, ...] = ("coverage", "diversity", "novelty", "arp")
DiversitySpace = Literal["interactions", "content"]


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
    train_data = dataclasses.replace(data, user_items=train, events=None)
    info.update(
        {
            "users": data.n_users,
            "items": data.n_items,
            "test_users": int((np.diff(test.indptr) > 0).sum()),
            "train_interactions": int(train.nnz),
            "test_interactions": int(test.nnz),
            "train_fingerprint": train_data.fingerprint,
        }
    )
    skipped = info.get("not_evaluated", {})
    if skipped:
        log.info("split %s: users not evaluated: %s", info["protocol"], skipped)
    return Split(train_data, test, info)


def split_user_holdout(data: InteractionData, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Per user, hold out a random ``test_fraction`` of their items (at least one, and never all).

    Users with a single item cannot give one away: they stay in train, are not evaluated, and
    are counted in ``info["not_evaluated"]``.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ParameterError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    rng = np.random.default_rng(seed)
    matrix = data.user_items
    parts = _new_parts()
    skipped: Counter[str] = Counter()
    for user in range(data.n_users):
        start, end = matrix.indptr[user], matrix.indptr[user + 1]
        items, weights = matrix.indices[start:end], matrix.data[start:end]
        n = len(items)
        n_test = int(np.clip(round(test_fraction * n), 1, n - 1)) if n >= 2 else 0
        if n_test == 0:
            skipped["fewer than 2 items: nothing to hold out"] += 1
        order = rng.permutation(n)
        test_idx, train_idx = order[:n_test], order[n_test:]
        _append(parts, user, items, weights, train_idx, test_idx)
    info = {
        "protocol": "user-holdout",
        "test_fraction": test_fraction,
        "seed": seed,
        "not_evaluated": dict(skipped),
    }
    return _finish_split(data, parts, info)


def split_leave_k_out(data: InteractionData, k: int = 1, seed: int = 0) -> Split:
    """Per user, hold out ``k`` random items; users with ``k`` items or fewer are not evaluated."""
    if k < 1:
        raise ParameterError(f"k must be at least 1, got {k}")
    rng = np.random.default_rng(seed)
    matrix = data.user_items
    parts = _new_parts()
    skipped: Counter[str] = Counter()
    for user in range(data.n_users):
        start, end = matrix.indptr[user], matrix.indptr[user + 1]
        items, weights = matrix.indices[start:end], matrix.data[start:end]
        n = len(items)
        n_test = k if n > k else 0
        if n_test == 0:
            skipped[f"{k} items or fewer: none would be left to train on"] += 1
        order = rng.permutation(n)
        _append(parts, user, items, weights, order[n_test:], order[:n_test])
    info = {"protocol": "leave-k-out", "k_out": k, "seed": seed, "not_evaluated": dict(skipped)}
    return _finish_split(data, parts, info)


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


def make_split(
    data: InteractionData,
    protocol: str = "user-holdout",
    test_fraction: float = 0.2,
    seed: int = 0,
    k_out: int = 1,
) -> Split:
    """Split ``data`` by the named protocol."""
    if protocol == "user-holdout":
        return split_user_holdout(data, test_fraction, seed)
    if protocol == "leave-k-out":
        return split_leave_k_out(data, k_out, seed)
    if protocol == "temporal":
        return split_temporal(data, test_fraction)
    raise ParameterError(f"split must be one of {', '.join(PROTOCOLS)}; got {protocol!r}")


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


def item_popularity(train: sp.csr_matrix) -> NDArray[np.float64]:
    """Number of training users per item."""
    return np.diff(sp.csc_matrix(train).indptr).astype(np.float64)


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


def item_space(split: Split, space: str = "interactions") -> sp.csr_matrix:
    """Unit item vectors (items x dims) in which intra-list diversity is measured.

    ``interactions``: each item's column of the training matrix (binary) — items are similar when
    the same people play them; ``content``: the audio / tag content vectors.
    """
    if space == "interactions":
        binary = split.train.user_items.T.tocsr(copy=True)
        binary.data[:] = 1.0
        return row_normalize(binary)
    if space == "content":
        from timbre.features import content_vectors

        return content_vectors(split.train.item_meta).matrix
    raise ParameterError(f"diversity space must be interactions or content; got {space!r}")


def intra_list_diversity(
    recommended: NDArray[np.int64], vectors: sp.csr_matrix | NDArray[np.floating]
) -> float:
    """Mean over lists of the mean pairwise dissimilarity ``1 - cosine`` of their items."""
    values = []
    for row in recommended:
        items = row[row >= 0]
        if len(items) < 2:
            continue
        block = vectors[items]
        product = block @ block.T
        sims = product.toarray() if sp.issparse(product) else np.asarray(product)
        n = len(items)
        mean_sim = (sims.sum() - np.trace(sims)) / (n * (n - 1))
        values.append(1.0 - mean_sim)
    return float(np.mean(values)) if values else float("nan")


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
    diversity_space: str = "interactions",
    vectors: sp.csr_matrix | None = None,
    progress: ProgressCallback | None = None,
) -> ModelResult:
    """Fit ``model`` on ``split.train`` and measure its top-``k`` lists for every test user."""
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
    popularity = item_popularity(split.train.user_items)
    space = vectors if vectors is not None else item_space(split, diversity_space)
    summary = {metric: float(per_user[metric].mean()) for metric in RANKING_METRICS}
    summary.update(
        {
            "coverage": coverage(recommended, split.train.n_items),
            "diversity": intra_list_diversity(recommended, space),
            "novelty": novelty(recommended, popularity, split.train.n_users),
            "arp": average_popularity(recommended, popularity),
        }
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
    results: dict[str, ModelResult] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """``{"split": {...}, "k": K, "models": {name: {...}}}`` (the CLI's ``--json``)."""
        return {
            "split": {k: v for k, v in self.split.info.items()},
            "k": self.k,
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
    protocol: str = "user-holdout",
    test_fraction: float = 0.2,
    k: int = 10,
    seed: int = 0,
    k_out: int = 1,
    diversity_space: str = "interactions",
    progress: Callable[[float, str], None] | None = None,
    split: Split | None = None,
) -> Experiment:
    """Evaluate several models (``{name: params}``) on one split made from ``seed``.

    Model names may carry a label after a colon (``als:tuned``) so the same family can appear
    twice with different parameters. The same seed gives the same split and the same metrics.
    """
    report = progress or (lambda _f, _m: None)
    split = split or make_split(data, protocol, test_fraction, seed, k_out)
    vectors = item_space(split, diversity_space)
    experiment = Experiment(split, k)
    names = list(models)
    for position, label in enumerate(names):
        family = label.split(":", 1)[0]
        model = create_model(family, dict(models[label]))
        share = 1.0 / len(names)

        def inner(
            fraction: float, message: str, _p: int = position, _l: str = label, _s: float = share
        ) -> None:
            report((_p + 0.9 * fraction) * _s, f"{_l}: {message}")

        experiment.results[label] = evaluate_model(
            model, split, k, label, diversity_space, vectors, inner
        )
        report((position + 1) * share, f"{label}: evaluated")
    return experiment


def paired_test(a: ModelResult, b: ModelResult, metric: str = "ndcg") -> dict[str, Any]:
    """Compare two models on the same users: mean difference, Wilcoxon and paired t p-values."""
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


def sweep_configs(
    grid: Mapping[str, Sequence[Any]], budget: int | None = None, mode: str = "grid", seed: int = 0
) -> list[dict[str, Any]]:
    """The configurations to try: every combination (``grid``), or a seeded random sample of
    ``budget`` of them (``random``); ``grid`` with a budget keeps the first ``budget``."""
    keys = list(grid)
    combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]
    if mode == "random":
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(combos))
        combos = [combos[i] for i in order]
    elif mode != "grid":
        raise ParameterError(f"sweep mode must be grid or random; got {mode!r}")
    return combos[:budget] if budget else combos


def sweep(
    data: InteractionData,
    model: str,
    grid: Mapping[str, Sequence[Any]],
    base_params: Mapping[str, Any] | None = None,
    budget: int | None = None,
    mode: str = "grid",
    metric: str = "ndcg",
    protocol: str = "user-holdout",
    test_fraction: float = 0.2,
    k: int = 10,
    seed: int = 0,
    on_result: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """Evaluate ``model`` for each configuration on one split; rows sorted best first.

    ``on_result(done, total, row)`` is called after each configuration, so early results can be
    shown while the sweep goes on.
    """
    if metric not in (*RANKING_METRICS, *LIST_METRICS):
        raise ParameterError(
            f"metric must be one of {', '.join((*RANKING_METRICS, *LIST_METRICS))}"
        )
    split = make_split(data, protocol, test_fraction, seed)
    vectors = item_space(split)
    configs = sweep_configs(grid, budget, mode, seed)
    rows = []
    for done, config in enumerate(configs, start=1):
        params = {**dict(base_params or {}), **config}
        result = evaluate_model(create_model(model, params), split, k, model, vectors=vectors)
        row = {**config, **result.summary, "fit_seconds": result.fit_seconds}
        rows.append(row)
        if on_result:
            on_result(done, len(configs), row)
    frame = pd.DataFrame(rows)
    ascending = metric == "arp"
    return frame.sort_values(metric, ascending=ascending, kind="stable").reset_index(drop=True)


# ----- records and files ---------------------------------------------------------------------
def record_results(store: Any, dataset: str, experiment: Experiment) -> list[int]:
    """Attach each model's metrics to a model run in the registry (no artifact: an evaluation
    run is fitted on the split's train part, not on the whole data set). Returns the run ids."""
    ids = []
    for label, result in experiment.results.items():
        metrics = {
            **result.as_dict(),
            "k": experiment.k,
            "label": label,
            "split": {k: v for k, v in experiment.split.info.items() if k != "train_fingerprint"},
        }
        result.run_id = store.add_model_run(
            model=result.model,
            params=result.params,
            dataset=dataset,
            fingerprint=experiment.split.info["train_fingerprint"],
            metrics=metrics,
            duration_s=round(result.fit_seconds, 4),
            artifact_path=None,
        )
        ids.append(result.run_id)
    return ids


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


@dataclass(frozen=True)
class SweepOutcome:
    """A finished sweep: every configuration's results, the best one, its registry run."""

    results: pd.DataFrame
    swept: tuple[str, ...]
    best: dict[str, Any]
    run_id: int


def sweep_and_record(
    store: Any,
    data: InteractionData,
    model: str,
    grid: Mapping[str, Sequence[Any]],
    base_params: Mapping[str, Any] | None = None,
    budget: int | None = None,
    mode: str = "grid",
    metric: str = "ndcg",
    protocol: str = "user-holdout",
    test_fraction: float = 0.2,
    k: int = 10,
    seed: int = 0,
    on_result: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> SweepOutcome:
    """:func:`sweep`, then evaluate the best configuration once more on the same split and
    record it (with its metrics) in the run registry."""
    results = sweep(
        data,
        model,
        grid,
        base_params,
        budget,
        mode,
        metric,
        protocol,
        test_fraction,
        k,
        seed,
        on_result,
    )
    best = {**dict(base_params or {}), **best_config(results, list(grid))}
    experiment = run_experiment(data, {model: best}, protocol, test_fraction, k, seed)
    run_id = record_results(store, data.dataset, experiment)[0]
    return SweepOutcome(results, tuple(grid), best, run_id)
