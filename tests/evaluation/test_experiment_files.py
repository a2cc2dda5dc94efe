"""An experiment's downloadable files and the runs table (issue 17, "Runs table"): evaluation
records marked as such with their metrics, runs compared side by side, and the split and
per-user values as files that reproduce the table's means."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd

from timbre.config import Settings
from timbre.evaluation import SplitSpec, as_rankers
from timbre.export import experiment_zip
from timbre.interactions import InteractionData
from timbre.services.experiments import evaluate_rankers
from timbre.services.runs import compare_runs, runs_table, train_run
from timbre.store import Store


def test_experiment_files_and_runs_table(demo_data: InteractionData, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    with Store.open(settings) as store:
        trained = train_run(store, settings, demo_data, "popularity", {})
        rankers = as_rankers({"popularity": {}, "item-knn": {"K": 50}})
        experiment, ids = evaluate_rankers(store, demo_data, rankers, SplitSpec(seed=3), k=10)
        runs = store.list_model_runs()
    # the zip: the split as the CLI's --save-split writes it, and per-user values whose means
    # are the experiment's table
    with zipfile.ZipFile(io.BytesIO(experiment_zip(experiment))) as archive:
        assert sorted(archive.namelist()) == [
            "per_user.csv", "recommendations.csv", "test.csv", "train.csv",
        ]  # fmt: skip
        frames = {n: pd.read_csv(archive.open(n)) for n in archive.namelist()}
    assert len(frames["train.csv"]) == experiment.split.train.user_items.nnz
    assert len(frames["test.csv"]) == experiment.split.test.nnz
    per_user = frames["per_user.csv"]
    table = experiment.table().set_index("model")
    for label in ("popularity", "item-knn"):
        mine = per_user[per_user["model"] == label]
        assert len(mine) == table.loc[label, "users"]
        assert abs(mine["ndcg"].mean() - table.loc[label, "ndcg"]) < 1e-9
    assert set(per_user["user_id"]) <= set(demo_data.users.ids)
    # the runs table: the trained model and the experiment's two evaluation records
    shown = runs_table(runs, demo_data.fingerprint).set_index("run")
    assert shown.loc[trained.run_id, "kind"] == "model"
    assert {shown.loc[i, "kind"] for i in ids} == {f"evaluation {ids[0]}"}
    assert shown.loc[ids[1], "model"] == "item-knn"
    assert abs(shown.loc[ids[1], "ndcg@10"] - table.loc["item-knn", "ndcg"]) < 1e-9
    assert pd.isna(shown.loc[trained.run_id, "ndcg@10"])  # a training run has no metrics
    side = compare_runs([r for r in runs if r["id"] in ids])
    assert list(side.columns) == [f"run {i}" for i in sorted(ids, reverse=True)]
    assert side.loc["param K", f"run {ids[1]}"] == 50
    assert side.loc["param K", f"run {ids[0]}"] == ""  # popularity has no K
    assert side.loc["ndcg@10", f"run {ids[0]}"] == table.loc["popularity", "ndcg"]
    assert side.loc["split seed", f"run {ids[0]}"] == 3
