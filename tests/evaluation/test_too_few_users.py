"""Issue 19 item 7: an experiment on a data set with too few users (one) warns that its metrics
cannot tell models apart, in the JSON, the CLI table and the Train page."""

from __future__ import annotations

import pandas as pd

from timbre.evaluation import SplitSpec
from timbre.evaluation.runner import MIN_EVALUATED_USERS, run_experiment
from timbre.interactions import InteractionData


def _one_user() -> InteractionData:
    rows = pd.DataFrame(
        {"user_key": "only", "item_key": [f"i{i}" for i in range(12)], "weight": 1.0}
    )
    items = pd.DataFrame(
        {"key": [f"i{i}" for i in range(12)], "name": [f"I{i}" for i in range(12)]}
    )
    return InteractionData.from_frames(rows, items, "one-user")


def test_a_one_user_experiment_warns_that_its_metrics_mean_nothing() -> None:
    experiment = run_experiment(
        _one_user(), {"popularity": {}, "item-knn": {}}, SplitSpec("leave-k-out", k_out=1)
    )
    table = experiment.table()
    assert (table["users"] == 1).all() and (table["ndcg"] == 1.0).all()  # the symptom
    (warning,) = experiment.warnings()
    assert "only 1 user evaluated" in warning and "one-user data set" in warning
    assert experiment.as_dict()["warnings"] == [warning]


def test_the_demo_sized_experiment_has_no_warning(demo_data: InteractionData) -> None:
    experiment = run_experiment(demo_data, {"popularity": {}})
    assert len(experiment.results["popularity"].per_user) >= MIN_EVALUATED_USERS
    assert experiment.warnings() == []
