"""Hybrids in experiments (issue 13): trained on the training part, measured on the lists the
serving engine shows; hybrid sweeps; comparisons; re-running a recorded experiment."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.cli_helpers import run_cli
from timbre.errors import ParameterError
from timbre.evaluation import comparisons, make_split
from timbre.hybrid import HybridRanker, Weights, preset
from timbre.interactions import InteractionData
from timbre.services.experiments import hybrid_weights, parse_hybrid_grid, rankers
from timbre.sources.demo import DEMO_DATASET


def test_hybrid_labels_name_presets_or_weights() -> None:
    assert hybrid_weights("hybrid") == preset("default")
    assert hybrid_weights("hybrid:original") == preset("original")
    mix = hybrid_weights("hybrid:cf=0.8+content=0.2")
    assert (mix.cf, mix.content, mix.personality, mix.novelty) == (0.8, 0.2, 0.0, 0.0)
    made = rankers(["als", "hybrid:cf=0.8+content=0.2"], ["als.factors=16"])
    hybrid = made["hybrid:cf=0.8+content=0.2"]
    assert isinstance(hybrid, HybridRanker)
    assert hybrid.cf_model == "als" and hybrid.cf_params["factors"] == 16
    with pytest.raises(ParameterError, match="hybrid parameters are"):
        rankers(["hybrid"], ["hybrid.pool=5"])
    assert parse_hybrid_grid(["content=0,0.1", "normalization=rank,minmax"]) == {
        "content": [0.0, 0.1],
        "normalization": ["rank", "minmax"],
    }


def test_an_evaluated_hybrid_is_the_served_ranking_on_the_training_part(
    demo_data: InteractionData,
) -> None:
    split = make_split(demo_data)
    weights = Weights(cf=0.7, content=0.2, novelty=0.1, diversity=0.3)
    ranker = HybridRanker(weights, "als", {"factors": 16, "iterations": 5})
    ranker.fit(split.train)
    engine = ranker.engine_
    assert engine is not None and engine.data is split.train  # content built from train only
    users = split.test_users[::40]
    items, _ = ranker.lists(users, 10)
    for row, user in enumerate(users):
        shown = engine.rank(engine.components_for_user(int(user)), weights, n=10)
        assert items[row].tolist() == shown.items.tolist()


def test_an_evaluated_cf_only_hybrid_never_fits_the_content_model(
    demo_data: InteractionData,
) -> None:
    """The experiment's lists compute only what the weights use, as the export does: with
    cf-only weights (and no schedule) no content model is fitted; the lists are the served ones."""
    split = make_split(demo_data)
    ranker = HybridRanker(preset("cf-only"), "als", {"factors": 16, "iterations": 5}, schedule=None)
    ranker.fit(split.train)
    engine = ranker.engine_
    assert engine is not None
    users = split.test_users[::60]
    items, _ = ranker.lists(users, 10)
    assert "content_model" not in engine.__dict__
    for row, user in enumerate(users):
        shown = engine.rank(
            engine.components_for_user(int(user)), preset("cf-only"), 10, schedule=None
        )
        assert items[row].tolist() == shown.items.tolist()


def _home(demo_home: Path, tmp_path: Path) -> str:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    return str(home)


@pytest.mark.slow
def test_cli_evaluates_hybrids_compares_them_and_reruns_the_record(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = _home(demo_home, tmp_path)
    models = "popularity,hybrid:cf=0.8+content=0.2"
    argv = ["--home", home, "evaluate", "--models", models, "--param", "als.factors=16"]
    code, out, err = run_cli(capsys, *argv, "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert set(payload["models"]) == {"popularity", "hybrid:cf=0.8+content=0.2"}
    ranker = payload["record"]["rankers"]["hybrid:cf=0.8+content=0.2"]
    assert ranker["family"] == "hybrid" and ranker["params"]["cf_params"]["factors"] == 16
    assert ranker["params"]["weights"]["content"] == 0.2
    (pair,) = payload["comparisons"]
    assert {pair["a"], pair["b"]} == set(payload["models"]) and "wilcoxon_p_holm" in pair
    experiment = payload["record"]["experiment_id"]
    code, out, err = run_cli(capsys, "--home", home, "evaluate", "--rerun", str(experiment))
    assert (code, out.strip()) == (
        0,
        f"experiment {experiment}: every metric of every model matches",
    )
    _tamper(Path(home) / "timbre.db", experiment)
    code, out, err = run_cli(capsys, "--home", home, "evaluate", "--rerun", str(experiment))
    assert code == 1 and "1 differences" in out and "popularity.ndcg: 0.5 then" in out


def _tamper(database: Path, run_id: int) -> None:
    """Change one recorded metric, as if the code had changed the numbers since."""
    with sqlite3.connect(database) as conn:
        (text,) = conn.execute("SELECT metrics FROM model_runs WHERE id = ?", (run_id,)).fetchone()
        metrics = json.loads(text)
        metrics["ndcg"] = 0.5
        conn.execute(
            "UPDATE model_runs SET metrics = ? WHERE id = ?", (json.dumps(metrics), run_id)
        )


def test_a_rerun_on_changed_data_says_it_cannot_match(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = _home(demo_home, tmp_path)
    code, out, err = run_cli(capsys, "--home", home, "evaluate", "--models", "popularity", "--json")
    experiment = json.loads(out)["record"]["experiment_id"]
    extra = tmp_path / "more.csv"
    pd.DataFrame({"user": ["2"], "item": ["51"], "weight": [7]}).to_csv(extra, index=False)
    code, out, err = run_cli(
        capsys, "--home", home, "import", str(extra), "--dataset", DEMO_DATASET
    )
    assert code == 0, err
    code, out, err = run_cli(capsys, "--home", home, "evaluate", "--rerun", str(experiment))
    assert code == 1 and "it cannot match" in err and err.count("\n") == 1


@pytest.mark.slow
def test_cli_sweeps_fusion_weights_on_validation(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = _home(demo_home, tmp_path)
    # ``novelty`` is a weight and a metric: the chosen weight must be the one tried
    argv = ["--home", home, "sweep", "--model", "hybrid", "--grid", "content=0,0.2"]
    argv += ["--grid", "novelty=0.05", "--param", "cf.factors=16"]
    code, out, err = run_cli(capsys, *argv, "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert len(payload["results"]) == 2 and payload["chosen_on"] == "validation"
    assert payload["splits"]["validation"]["seed"] == 1000
    assert payload["best"]["content"] in (0.0, 0.2) and 0 < payload["test"]["ndcg"] < 1
    assert payload["best"]["novelty"] == 0.05
    assert {row["param:novelty"] for row in payload["results"]} == {0.05}
    assert all(row["novelty"] > 1 for row in payload["results"])  # the metric, in bits


@dataclass
class _PerUser:
    per_user: pd.DataFrame


def test_comparisons_pair_every_model_and_correct_for_multiplicity() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(200)
    values = {"a": base, "b": base + 0.05, "c": base + rng.normal(0, 0.01, 200)}
    results = {name: _PerUser(pd.DataFrame({"ndcg": v})) for name, v in values.items()}
    frame = comparisons(results)
    assert [(r.a, r.b) for r in frame.itertuples()] == [("a", "b"), ("a", "c"), ("b", "c")]
    assert (frame["wilcoxon_p_holm"] >= frame["wilcoxon_p"]).all()
    ab = frame.iloc[0]
    assert ab["mean_difference"] == pytest.approx(-0.05)
    assert ab["ci95_low"] == pytest.approx(-0.05) and ab["ci95_high"] == pytest.approx(-0.05)
    assert ab["wilcoxon_p_holm"] < 1e-6  # a real difference stays significant
    assert frame.iloc[1]["wilcoxon_p_holm"] > 0.05  # noise does not
