"""Hyper-parameter sweeps: grids, specs and the search (tuned on validation only)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from timbre.errors import DataError, ParameterError
from timbre.evaluation.metrics import LIST_METRICS, RANKING_METRICS
from timbre.evaluation.runner import ModelRanker, ModelResult, Ranker, evaluate_ranker
from timbre.evaluation.splits import SplitSpec
from timbre.interactions import InteractionData
from timbre.models import create_model

SweepMode = Literal["grid", "random"]
SWEEP_MODES: tuple[str, ...] = get_args(SweepMode)
#: Columns of a sweep's results that hold measurements, not parameters.
RESULT_COLUMNS = frozenset((*RANKING_METRICS, *LIST_METRICS, "fit_seconds"))


def param_column(name: str) -> str:
    """The results column of swept parameter ``name``: the name itself, or ``param:<name>``
    where a measurement has that name (the hybrid's ``novelty`` and ``diversity`` weights).

    >>> param_column("factors"), param_column("novelty")
    ('factors', 'param:novelty')
    """
    return f"param:{name}" if name in RESULT_COLUMNS else name


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
        The outer split: configurations are chosen on a validation split carved from its
        training part, and the chosen one is measured once on its test split.
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


#: Makes the ranker of one configuration from its parameters.
RankerFactory = Callable[[dict[str, Any]], Ranker]


def model_factory(family: str) -> RankerFactory:
    """A :data:`RankerFactory` for a model family."""

    def make(params: dict[str, Any]) -> Ranker:
        return ModelRanker(create_model(family, params))

    return make


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep with nested validation.

    Attributes
    ----------
    spec
        What was swept.
    validation
        Every configuration's metrics on the validation split (carved from the training part
        of ``spec.split`` only), best first: what chose the configuration. A parameter's
        column is :func:`param_column` of its name.
    best
        The chosen configuration (with the fixed parameters).
    test
        The chosen configuration refitted on the whole training part and measured once on the
        test split: the number to report.
    splits
        The ``info`` of the ``validation`` and the ``test`` split (counts, cut, seed).
    """

    spec: SweepSpec
    validation: pd.DataFrame
    best: dict[str, Any]
    test: ModelResult
    chosen_on: str = "validation"
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def best_validation(self) -> dict[str, float]:
        """The chosen configuration's validation metrics."""
        row = self.validation.iloc[0]
        return {m: float(row[m]) for m in (*RANKING_METRICS, *LIST_METRICS)}


def sweep(
    data: InteractionData,
    spec: SweepSpec,
    on_result: Callable[[int, int, dict[str, Any]], None] | None = None,
    make: RankerFactory | None = None,
) -> SweepResult:
    """Tune on validation, report on test (nested validation).

    The test split of ``spec.split`` is never seen while choosing: each configuration is fitted
    on the validation split's train part and measured on its held-out part, both carved from
    the outer training part by the same protocol (:meth:`SplitSpec.validation`). The best one
    is refitted on the whole training part and measured once on the test split.

    ``make`` builds a configuration's ranker (default: the model family ``spec.model``);
    ``on_result(done, total, row)`` is called after each configuration.
    """
    make = make or model_factory(spec.model)
    outer = spec.split.make(data)
    inner = spec.split.validation().make(outer.train)
    configs = spec.configs()
    rows = []
    for done, config in enumerate(configs, start=1):
        params = {**dict(spec.base_params), **config}
        result = evaluate_ranker(make(params), inner, spec.k, spec.model)
        row = {
            **{param_column(k): v for k, v in config.items()},
            **result.summary,
            "fit_seconds": result.fit_seconds,
        }
        rows.append(row)
        if on_result:
            on_result(done, len(configs), row)
    frame = pd.DataFrame(rows)
    ascending = spec.metric == "arp"
    frame = frame.sort_values(spec.metric, ascending=ascending, kind="stable")
    frame = frame.reset_index(drop=True)
    best = {**dict(spec.base_params), **best_config(frame, list(spec.grid))}
    test = evaluate_ranker(make(best), outer, spec.k, spec.model)
    return SweepResult(
        spec, frame, best, test, splits={"validation": inner.info, "test": outer.info}
    )


def best_config(results: pd.DataFrame, swept: Sequence[str]) -> dict[str, Any]:
    """The swept parameters of the first (best) row of :func:`sweep`, as plain Python values."""
    if results.empty:
        raise DataError("the sweep has no results")
    best = {name: results[param_column(name)].iloc[0] for name in swept}
    return {name: value.item() if hasattr(value, "item") else value for name, value in best.items()}
