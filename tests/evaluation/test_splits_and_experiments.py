"""Splits keep their invariants; experiments reproduce; ALS's NDCG matches implicit's."""

from __future__ import annotations

import json
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from implicit.evaluation import ndcg_at_k

from timbre.errors import TimbreError
from timbre.evaluation import (
    ModelRanker,
    Split,
    SplitSpec,
    SweepSpec,
    make_split,
    paired_test,
    parse_grid,
    parse_model_specs,
    run_experiment,
    sweep,
)
from timbre.interactions import InteractionData
from timbre.models import ALS, create_model


def _pairs(matrix: sp.csr_matrix) -> set[tuple[int, int]]:
    coo = matrix.tocoo()
    return set(zip(coo.row.tolist(), coo.col.tolist(), strict=True))


def _check_invariants(data: InteractionData, split: Split) -> None:
    train, test = _pairs(split.train.user_items), _pairs(split.test)
    assert not train & test, "train and test overlap"
    full = _pairs(data.user_items)
    assert train | test == full, "the split lost or invented interactions"
    # weights are carried over unchanged
    total = split.train.user_items + split.test
    assert np.allclose(total.toarray(), data.user_items.toarray())
    had = np.diff(data.user_items.indptr) > 0
    kept = np.diff(split.train.user_items.indptr) > 0
    assert np.all(kept[had]), "a user lost all their train items"
    assert split.train.users == data.users and split.train.items == data.items


@pytest.mark.parametrize(
    ("protocol", "options"),
    [("user-holdout", {"test_fraction": 0.2}), ("leave-k-out", {"k_out": 2})],
)
def test_split_invariants_on_the_demo(
    demo_data: InteractionData, protocol: str, options: dict[str, float]
) -> None:
    split = make_split(demo_data, SplitSpec(protocol, seed=3, **options))  # type: ignore[arg-type]
    _check_invariants(demo_data, split)
    not_evaluated = sum(split.info["not_evaluated"].values())
    assert split.info["test_users"] + not_evaluated == demo_data.n_users
    if protocol == "leave-k-out":
        assert set(np.diff(split.test.indptr)) <= {0, 2}
    else:
        sizes = np.diff(demo_data.user_items.indptr)
        held = np.diff(split.test.indptr)
        big = sizes >= 10
        assert np.allclose(held[big] / sizes[big], 0.2, atol=0.05)


def test_same_seed_same_split_other_seed_other_split(demo_data: InteractionData) -> None:
    a, b = make_split(demo_data, SplitSpec(seed=1)), make_split(demo_data, SplitSpec(seed=1))
    c = make_split(demo_data, SplitSpec(seed=2))
    assert _pairs(a.test) == _pairs(b.test) and _pairs(a.test) != _pairs(c.test)


def _timed_data() -> InteractionData:
    rows = []
    for user in range(6):
        for step in range(user + 1):  # user 0 has one event: no history before the cut
            rows.append(
                {
                    "user_key": f"u{user}",
                    "item_key": f"i{step}",
                    "weight": 1.0,
                    "timestamp": pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=step),
                }
            )
    # user 5 replays an earlier item at the end: that replay is not a test item
    rows.append(
        {
            "user_key": "u5",
            "item_key": "i0",
            "weight": 1.0,
            "timestamp": pd.Timestamp("2024-03-01", tz="UTC"),
        }
    )
    items = pd.DataFrame({"key": [f"i{i}" for i in range(6)], "name": [f"I{i}" for i in range(6)]})
    return InteractionData.from_frames(pd.DataFrame(rows), items, "timed")


def test_temporal_split_holds_out_the_latest_and_reports_short_histories() -> None:
    data = _timed_data()
    split = make_split(data, SplitSpec("temporal", test_fraction=0.34))
    _check_invariants(data, split)
    assert split.info["not_evaluated"] == {"fewer than 2 events: no history before the cut": 1}
    u3 = data.users.index("u3")
    assert data.items.id(int(split.test[u3].indices[0])) == "i3"  # the latest of i0..i3
    u5 = data.users.index("u5")
    assert data.items.index("i0") not in split.test[u5].indices


def test_temporal_split_needs_timestamps(demo_data: InteractionData) -> None:
    with pytest.raises(TimbreError, match="has no timestamps"):
        make_split(demo_data, SplitSpec("temporal"))


def test_ndcg_of_als_equals_implicits_on_the_same_split(demo_data: InteractionData) -> None:
    split = make_split(demo_data)
    experiment = run_experiment(demo_data, {"als": {"factors": 32}}, split=split)
    model = create_model("als", {"factors": 32}).fit(split.train)
    assert isinstance(model, ALS)
    theirs = ndcg_at_k(model._model, split.train.user_items, split.test, K=10, show_progress=False)
    assert experiment.results["als"].summary["ndcg"] == pytest.approx(theirs, abs=1e-9)


@pytest.mark.slow
def test_same_seed_gives_identical_json(demo_data: InteractionData) -> None:
    models = {"popularity": {}, "item-knn": {"K": 50}, "bpr": {"iterations": 20}}

    def without_timings(payload: dict) -> str:  # type: ignore[type-arg]
        for result in payload["models"].values():
            result.pop("fit_seconds")
            result.pop("recommend_seconds")
        return json.dumps(payload, sort_keys=True)

    first = run_experiment(demo_data, models, SplitSpec(seed=4)).as_dict()
    second = run_experiment(demo_data, models, SplitSpec(seed=4)).as_dict()
    assert without_timings(first) == without_timings(second)
    assert set(first["models"]) == set(models)


@pytest.mark.slow
def test_paired_test_tells_a_real_difference_from_none(demo_data: InteractionData) -> None:
    experiment = run_experiment(
        demo_data, {"popularity": {}, "item-knn": {}, "item-knn:again": {}}, SplitSpec(seed=0)
    )
    better = paired_test(experiment.results["item-knn"], experiment.results["popularity"])
    assert better["mean_difference"] > 0.05 and better["wilcoxon_p"] < 1e-6
    same = paired_test(experiment.results["item-knn"], experiment.results["item-knn:again"])
    assert same["mean_difference"] == 0.0 and same["wilcoxon_p"] == 1.0


def test_model_specs_and_grids_are_parsed_and_checked() -> None:
    specs = parse_model_specs(["als", "ease"], ["als.factors=32", "ease.l2=100"])
    assert specs == {"als": {"factors": 32}, "ease": {"l2": 100.0}}
    with pytest.raises(ValueError, match="not among --models"):
        parse_model_specs(["als"], ["ease.l2=1"])
    with pytest.raises(ValueError, match="unknown model 'svd'"):
        parse_model_specs(["svd"], [])
    assert parse_grid("als", ["factors=16,32", "weighting=log"]) == {
        "factors": [16, 32],
        "weighting": ["log"],
    }
    with pytest.raises(ValueError, match="'factors' must be a whole number"):
        parse_grid("als", ["factors=16,big"])


def test_sweep_configs_grid_budget_and_random() -> None:
    grid = {"a": [1, 2], "b": ["x", "y", "z"]}
    assert len(SweepSpec("als", grid).configs()) == 6
    assert SweepSpec("als", grid, budget=2).configs() == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}]
    seeded = SweepSpec("als", grid, budget=3, mode="random", split=SplitSpec(seed=1))
    sample = seeded.configs()
    assert sample == seeded.configs() and len(sample) == 3
    with pytest.raises(ValueError, match="sweep mode must be grid or random"):
        SweepSpec("als", grid, mode="sideways")  # type: ignore[arg-type]


def test_split_specs_are_checked_when_made() -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        SplitSpec("random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k_out must be at least 1"):
        SplitSpec("leave-k-out", k_out=0)
    with pytest.raises(ValueError, match="test_fraction must be between 0 and 1"):
        SplitSpec(test_fraction=1.5)


@pytest.mark.slow
def test_sweep_reports_each_result_and_sorts_best_first(demo_data: InteractionData) -> None:
    seen: list[tuple[int, int]] = []
    spec = SweepSpec("item-knn", {"K": [5, 200]})
    result = sweep(demo_data, spec, on_result=lambda d, t, _r: seen.append((d, t)))
    assert seen == [(1, 2), (2, 2)]
    frame = result.validation
    assert frame["ndcg"].is_monotonic_decreasing and sorted(frame["K"]) == [5, 200]
    assert result.best == {"K": int(frame["K"].iloc[0])}
    assert result.test.params["K"] == result.best["K"]


class _Spy:
    """A ranker that remembers what it was fitted on and whom it ranked (popularity inside)."""

    log: ClassVar[list[tuple[str, InteractionData, np.ndarray]]] = []

    def __init__(self, params: dict) -> None:  # type: ignore[type-arg]
        self.inner = ModelRanker(create_model("popularity", params))
        self.name = "popularity"

    def fit(self, train: InteractionData, progress: object = None) -> object:
        self.log.append(("fit", train, np.zeros(0)))
        return self.inner.fit(train)

    def get_params(self) -> dict:  # type: ignore[type-arg]
        return self.inner.get_params()

    def lists(self, users: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        self.log.append(("rank", self.inner.model.user_items_, users))  # type: ignore[attr-defined]
        return self.inner.lists(users, k)


def test_a_sweep_never_sees_the_test_split_while_choosing(demo_data: InteractionData) -> None:
    """Regression (issue 13): the sweep chose its configuration on the test split itself (and
    the benchmark's "validation split" was another random split of the full data)."""
    _Spy.log.clear()
    spec = SweepSpec("popularity", {"measure": ["users", "plays"]}, split=SplitSpec(seed=0))
    result = sweep(demo_data, spec, make=_Spy)
    outer = spec.split.make(demo_data)
    test_pairs = _pairs(outer.test)
    fits = [entry[1] for entry in _Spy.log if entry[0] == "fit"]
    assert len(fits) == 3  # two configurations on validation, then the chosen one refitted
    for train in fits[:2]:  # while choosing: fitted on part of the training part only
        assert not _pairs(train.user_items) & test_pairs
        assert _pairs(train.user_items) < _pairs(outer.train.user_items)
    assert _pairs(fits[2].user_items) == _pairs(outer.train.user_items)  # refit on all of it
    ranked = [entry[2] for entry in _Spy.log if entry[0] == "rank"]
    inner = spec.split.validation().make(outer.train)
    assert all(np.array_equal(users, inner.test_users) for users in ranked[:2])
    assert np.array_equal(ranked[2], outer.test_users)  # the test split: once, at the end
    assert not _pairs(inner.test) & test_pairs and _pairs(inner.test) <= _pairs(
        outer.train.user_items
    )
    assert result.chosen_on == "validation"
    assert result.best_validation["ndcg"] != result.test.summary["ndcg"]
