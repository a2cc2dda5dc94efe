"""The experiment runner: rankers fitted on a split's train part, measured on its test users."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from timbre import spaces
from timbre.errors import DataError, ParameterError
from timbre.evaluation.metrics import (
    DEFINITIONS,
    ILD_SPACE,
    LIST_METRICS,
    RANKING_METRICS,
    list_metrics,
    ranking_metrics,
)
from timbre.evaluation.significance import comparisons
from timbre.evaluation.splits import Split, SplitSpec
from timbre.interactions import InteractionData
from timbre.models import Recommender, create_model
from timbre.models.base import ProgressCallback
from timbre.spaces import SpaceName


class Ranker(Protocol):
    """What the runner evaluates: something fitted on a split's train part that then ranks.

    A model (through :class:`ModelRanker`) or the hybrid (``timbre.hybrid.HybridRanker``), so
    hybrids are measured through the same engine call that serves them.
    """

    @property
    def name(self) -> str:
        """The family (``als``, ``hybrid``)."""
        ...

    def fit(self, train: InteractionData, progress: ProgressCallback | None = None) -> object:
        """Learn from ``train``."""
        ...

    def get_params(self) -> dict[str, Any]:
        """Everything that makes it what it is (recorded with the results)."""
        ...

    def lists(
        self, users: NDArray[np.int64], k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Top-``k`` lists of training users (train items excluded), ``len(users) x k``
        padded with -1 / NaN."""
        ...


@dataclass
class ModelResult:
    """The evaluation of one ranker on one split."""

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


@dataclass
class ModelRanker:
    """A model as a :class:`Ranker`: its own ``recommend_batch`` ranks."""

    model: Recommender

    @property
    def name(self) -> str:
        """The model's family."""
        return self.model.name

    def fit(self, train: InteractionData, progress: ProgressCallback | None = None) -> object:
        """Fit the model on ``train``."""
        return self.model.fit(train, progress)

    def get_params(self) -> dict[str, Any]:
        """The model's hyper-parameters."""
        return self.model.get_params()

    def lists(
        self, users: NDArray[np.int64], k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """:func:`recommend_lists` of the fitted model."""
        return recommend_lists(self.model, users, k)


def evaluate_ranker(
    ranker: Ranker,
    split: Split,
    k: int = 10,
    name: str | None = None,
    ild_space: SpaceName = ILD_SPACE,
    progress: ProgressCallback | None = None,
) -> ModelResult:
    """Fit ``ranker`` on ``split.train`` and measure its top-``k`` lists for every test user.

    Intra-list diversity is measured in ``ild_space`` of the training data
    (:func:`timbre.spaces.space`, built once per split).
    """
    started = time.perf_counter()
    ranker.fit(split.train, progress)
    fit_seconds = time.perf_counter() - started
    users = split.test_users
    if len(users) == 0:
        raise DataError("the split has no test users: nothing to evaluate")
    started = time.perf_counter()
    recommended, scores = ranker.lists(users, k)
    recommend_seconds = time.perf_counter() - started
    per_user = ranking_metrics(recommended, split.test, users, k)
    summary = {metric: float(per_user[metric].mean()) for metric in RANKING_METRICS}
    summary.update(
        list_metrics(recommended, split.train, spaces.space(split.train, "items", ild_space))
    )
    return ModelResult(
        name=name or ranker.name,
        model=ranker.name,
        params=ranker.get_params(),
        per_user=per_user,
        summary=summary,
        recommended=recommended,
        scores=scores,
        users=users,
        fit_seconds=fit_seconds,
        recommend_seconds=recommend_seconds,
    )


def evaluate_model(
    model: Recommender,
    split: Split,
    k: int = 10,
    name: str | None = None,
    ild_space: SpaceName = ILD_SPACE,
    progress: ProgressCallback | None = None,
) -> ModelResult:
    """:func:`evaluate_ranker` of a model."""
    return evaluate_ranker(ModelRanker(model), split, k, name, ild_space, progress)


#: Fewer evaluated users than this and an experiment warns that its metrics mean nothing.
MIN_EVALUATED_USERS = 20


@dataclass
class Experiment:
    """Several models evaluated on one split."""

    split: Split
    k: int
    ild_space: str = ILD_SPACE
    results: dict[str, ModelResult] = field(default_factory=dict)
    spec: SplitSpec | None = None
    #: What it takes to run it again (data fingerprint, split spec, rankers, software); set
    #: by ``timbre.services.experiments.evaluate`` and stored with the results.
    record: dict[str, Any] | None = None

    def comparisons(self, metric: str = "ndcg") -> pd.DataFrame:
        """Every pair of models on ``metric``: mean difference with its 95% interval, Wilcoxon
        and paired t p-values, both Holm-adjusted over the pairs."""
        return comparisons(self.results, metric)

    def warnings(self) -> list[str]:
        """What makes these metrics unfit to compare models: too few evaluated users (a
        one-user data set scores every model 1.0)."""
        users = min((len(r.per_user) for r in self.results.values()), default=0)
        if users >= MIN_EVALUATED_USERS:
            return []
        return [
            f"only {users} user{'s' if users != 1 else ''} evaluated (fewer than "
            f"{MIN_EVALUATED_USERS}): these metrics cannot tell the models apart (a one-user "
            "data set scores every model 1.0); evaluate on a data set with more listeners"
        ]

    def as_dict(self) -> dict[str, Any]:
        """The JSON of ``timbre evaluate --json``: ``split`` (its info), ``k``, ``ild_space``,
        ``models`` (each model's metrics), ``comparisons`` (NDCG, every pair),
        ``definitions`` (what each metric is; ``diversity`` is ILD in ``ild_space``) and
        ``warnings`` (:meth:`warnings`)."""
        return {
            "split": {k: v for k, v in self.split.info.items()},
            "k": self.k,
            "ild_space": self.ild_space,
            "models": {name: result.as_dict() for name, result in self.results.items()},
            "comparisons": self.comparisons().to_dict("records"),
            "definitions": DEFINITIONS,
            "warnings": self.warnings(),
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


def as_rankers(models: Mapping[str, Mapping[str, Any] | Ranker]) -> dict[str, Ranker]:
    """``{label: params}`` (a model family per label; ``als:tuned`` names a second ALS) or
    ready rankers, as rankers."""
    out: dict[str, Ranker] = {}
    for label, value in models.items():
        if isinstance(value, Mapping):
            out[label] = ModelRanker(create_model(label.split(":", 1)[0], dict(value)))
        else:
            out[label] = value
    return out


def run_experiment(
    data: InteractionData,
    models: Mapping[str, Mapping[str, Any] | Ranker],
    split: SplitSpec | Split | None = None,
    k: int = 10,
    ild_space: SpaceName = ILD_SPACE,
    progress: Callable[[float, str], None] | None = None,
) -> Experiment:
    """Evaluate several rankers on one split: ``{label: params}`` of model families or ready
    :class:`Ranker` objects (hybrids).

    ``split`` is a :class:`SplitSpec` (the split is made here: the same spec gives the same
    split and the same metrics) or a ready :class:`Split`.
    """
    report = progress or (lambda _f, _m: None)
    made = split if isinstance(split, Split) else (split or SplitSpec()).make(data)
    spec = split if isinstance(split, SplitSpec) else None
    experiment = Experiment(made, k, ild_space, spec=spec)
    rankers = as_rankers(models)
    share = 1.0 / max(len(rankers), 1)
    for position, (label, ranker) in enumerate(rankers.items()):

        def inner(fraction: float, message: str, _p: int = position, _l: str = label) -> None:
            report((_p + 0.9 * fraction) * share, f"{_l}: {message}")

        experiment.results[label] = evaluate_ranker(ranker, made, k, label, ild_space, inner)
        report((position + 1) * share, f"{label}: evaluated")
    return experiment
