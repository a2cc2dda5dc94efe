"""What is measured is what is shown: one ranking path, one ILD, one split spec.

Regression tests for issue 12's defects: the Tune panel measured lists of its own (pool 50, no
cold-start schedule; 186 of 300 demo users differed at diversity 0.5); "diversity" was 1 - cosine
on binary columns in Evaluate but in a 64-d SVD embedding on Tune (0.843 against 0.610 for the
same ALS lists); ``timbre sweep --split leave-k-out`` always held out one item.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.cli_helpers import run_cli
from timbre import hybrid
from timbre.config import Settings
from timbre.evaluation import SplitSpec, evaluate_model, make_split
from timbre.hybrid import MetricsPanel, Weights
from timbre.interactions import InteractionData
from timbre.models import create_model
from timbre.services.engines import metrics_panel
from timbre.store import Store

MIXES = (
    Weights(),
    Weights(diversity=0.5),
    Weights(cf=0.4, content=0.4, personality=0.0, novelty=0.3, diversity=0.2),
    hybrid.preset("cf-only"),
    hybrid.preset("original"),
)


@pytest.fixture(scope="module")
def panel(demo_data: InteractionData) -> MetricsPanel:
    return metrics_panel(demo_data, "als", {"factors": 32})


@pytest.mark.parametrize("weights", MIXES, ids=lambda w: w.text())
def test_the_panel_measures_exactly_the_lists_the_engine_shows(
    panel: MetricsPanel, weights: Weights
) -> None:
    engine = panel.engine
    lists = panel.lists(weights)
    sample = range(0, len(panel.users), 6)  # 50 of the 300 held-out users
    for row in sample:
        user = int(panel.users[row])
        shown = engine.rank(engine.components_for_user(user), weights, n=panel.k)
        assert lists[row].tolist() == shown.items.tolist(), (user, weights)


def test_the_panel_follows_the_cold_start_schedule(panel: MetricsPanel) -> None:
    """A schedule rule that covers every held-out user decides the panel's lists too."""
    novelty = Weights(cf=0.0, content=0.0, personality=0.0, novelty=1.0, diversity=0.0)
    everyone = (hybrid.ScheduleRule(10_000, novelty, "everyone: novelty only"),)
    scheduled = panel.lists(hybrid.preset("cf-only"), schedule=everyone)
    assert np.array_equal(scheduled, panel.lists(novelty, schedule=None))
    assert not np.array_equal(scheduled, panel.lists(hybrid.preset("cf-only"), schedule=None))


@pytest.mark.slow
def test_the_same_lists_give_the_same_ild_in_evaluate_tune_and_the_cli(
    demo_data: InteractionData, demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = {"factors": 32}
    # Tune: the live panel over every test user, CF only, no diversity bonus, no schedule
    panel = metrics_panel(demo_data, "als", params, sample=None)
    cf_only = hybrid.preset("cf-only")
    tune_lists = panel.lists(cf_only, schedule=None)
    tune = panel.measure(cf_only, schedule=None)
    # Evaluate: the same model family and split through the experiment runner
    split = make_split(demo_data, SplitSpec())
    result = evaluate_model(create_model("als", params), split, k=10)
    assert np.array_equal(result.users, panel.users)
    assert np.array_equal(result.recommended, tune_lists)
    assert tune["diversity"] == pytest.approx(result.summary["diversity"], abs=1e-12)
    assert tune["ndcg"] == pytest.approx(result.summary["ndcg"], abs=1e-12)
    # the CLI: the same numbers in its JSON
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    code, out, err = run_cli(
        capsys, "--home", str(home), "evaluate", "--models", "als", "--param", "als.factors=32",
        "--json", "--no-record",
    )  # fmt: skip
    assert code == 0, err
    payload = json.loads(out)
    assert payload["ild_space"] == "binary"
    assert payload["models"]["als"]["diversity"] == pytest.approx(tune["diversity"], abs=1e-9)
    assert 0.0 <= tune["diversity"] <= 1.0  # the binary space has no negative cosines


@pytest.mark.slow
def test_sweep_holds_out_k_items_with_leave_k_out(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    code, out, err = run_cli(
        capsys, "--home", str(home), "sweep", "--model", "popularity", "--grid",
        "measure=users,plays", "--split", "leave-k-out", "--k-out", "2", "--json",
    )  # fmt: skip
    assert code == 0, err
    payload = json.loads(out)
    assert payload["split"]["protocol"] == "leave-k-out" and payload["split"]["k_out"] == 2
    with Store.open(Settings(home=home)) as store:
        run = next(r for r in store.list_model_runs() if r["id"] == payload["best_run_id"])
    recorded = run["metrics"]["split"]
    assert recorded["k_out"] == 2
    assert recorded["test_interactions"] == 2 * recorded["test_users"]
