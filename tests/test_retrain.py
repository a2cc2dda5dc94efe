"""Scheduled retraining: ``timbre train --if-stale`` retrains only when enough pairs changed and
activates the new run only when its validation NDCG is not worse; the Train page shows staleness."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import streamlit as st

from tests.app.helpers import open_page
from tests.cli_helpers import run_cli
from timbre.config import Settings
from timbre.interactions import InteractionData
from timbre.services.data import load_data
from timbre.services.retrain import validation_ndcg
from timbre.services.runs import usable_run
from timbre.sources.demo import DEMO_DATASET
from timbre.store import Store

TOY = "toy"


def _blocks(path: Path, users: int, seed: int, offset: int = 0) -> Path:
    """An interactions CSV of two taste blocks: even users play 6 of items 0-14, odd users 6
    of items 15-29 (weights 1-8), so that item-kNN ranks well and popularity does not."""
    rng = np.random.default_rng(seed)
    lines = ["user,item,weight"]
    for user in range(offset, offset + users):
        for item in rng.choice(15, 6, replace=False) + 15 * (user % 2):
            lines.append(f"u{user},i{item},{int(rng.integers(1, 9))}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _cli(capsys: pytest.CaptureFixture[str], home: Path, *argv: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--home", str(home), *argv)


def _import(capsys: pytest.CaptureFixture[str], home: Path, csv: Path) -> None:
    code, _, err = _cli(
        capsys, home, "import", str(csv), "--format", "interactions-csv", "--dataset", TOY
    )
    assert code == 0, err


def _retrain(capsys: pytest.CaptureFixture[str], home: Path, *argv: str) -> str:
    code, out, err = _cli(capsys, home, "train", "--dataset", TOY, "--if-stale", *argv)
    assert code == 0 and err == "", err
    assert out.count("\n") == 1, out  # one line per outcome
    return out.strip()


def _runs(home: Path) -> list[dict[str, object]]:
    with Store.open(Settings(home=home)) as store:
        return store.list_model_runs()  # newest first


def _toy(home: Path) -> InteractionData:
    with Store.open(Settings(home=home)) as store:
        return load_data(store, TOY)


@pytest.fixture
def toy_home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """40 listeners in two blocks (240 pairs), and a first item-kNN run by ``--if-stale``."""
    home = tmp_path / "home"
    _import(capsys, home, _blocks(tmp_path / "v1.csv", 40, seed=0))
    line = _retrain(capsys, home, "--model", "item-knn")
    (run,) = _runs(home)
    ndcg = run["metrics"]["validation"]["ndcg"]  # type: ignore[index]
    assert line == (
        f"no trained model on {TOY} yet: run 1 (item-knn) trained and activated "
        f"(validation NDCG@10 {ndcg:.4f})"
    )
    assert run["active"] and run["metrics"]["activated"] is True  # type: ignore[index]
    return home


def _more(tmp_path: Path, capsys: pytest.CaptureFixture[str], home: Path) -> None:
    """10 new listeners in the same blocks: 60 new pairs."""
    _import(capsys, home, _blocks(tmp_path / "v2.csv", 10, seed=1, offset=40))


def test_not_stale_trains_nothing(toy_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _retrain(capsys, toy_home)
    assert line == "run 1 (item-knn) is trained on the current data: not retrained"
    assert len(_runs(toy_home)) == 1


def test_fewer_new_pairs_than_min_new_trains_nothing(
    toy_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _more(tmp_path, capsys, toy_home)
    line = _retrain(capsys, toy_home, "--min-new", "61")
    assert line == "run 1 (item-knn) is 60 user-item pairs behind (< 61): not retrained"
    assert len(_runs(toy_home)) == 1
    line = _retrain(capsys, toy_home, "--min-new", "60")  # exactly enough
    assert line.startswith("run 1 (item-knn) was 60 user-item pairs behind: run 2 (item-knn)")
    assert len(_runs(toy_home)) == 2


def test_a_retrain_that_is_not_worse_is_activated(
    toy_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _runs(toy_home)[0]["metrics"]["validation"]  # type: ignore[index]
    _more(tmp_path, capsys, toy_home)
    line = _retrain(capsys, toy_home)
    new, old = _runs(toy_home)
    metrics = new["metrics"]
    assert isinstance(metrics, dict)
    validation, replaced = metrics["validation"], metrics["replaced_validation"]
    assert validation["ndcg"] == validation_ndcg(_toy(toy_home), "item-knn", {})["ndcg"]
    assert validation["ndcg"] > before["ndcg"] + 0.01  # more listeners of the same blocks
    assert replaced == {**before, "source": "recorded"}  # the first retrain recorded it
    assert validation["split"] == replaced["split"] == {
        "protocol": "user-holdout", "test_fraction": 0.2, "seed": 0, "k_out": 1, "cut": None,
    }  # fmt: skip
    assert metrics["replaced_run"] == 1 and metrics["activated"] is True
    assert metrics["staleness"]["new_pairs"] == 60 and metrics["staleness"]["new_users"] == 10
    assert new["active"] and not old["active"] and new["params"] == old["params"]
    assert line == (
        "run 1 (item-knn) was 60 user-item pairs behind: run 2 (item-knn) trained and "
        f"activated (validation NDCG@10 {validation['ndcg']:.4f} >= {before['ndcg']:.4f} "
        "of run 1)"
    )
    assert _retrain(capsys, toy_home) == (
        "run 2 (item-knn) is trained on the current data: not retrained"
    )


def test_a_worse_retrain_stays_inactive_and_is_not_repeated(
    toy_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_ndcg = _runs(toy_home)[0]["metrics"]["validation"]["ndcg"]  # type: ignore[index]
    _more(tmp_path, capsys, toy_home)
    line = _retrain(capsys, toy_home, "--model", "popularity")
    new, old = _runs(toy_home)
    metrics = new["metrics"]
    assert isinstance(metrics, dict)
    new_ndcg = metrics["validation"]["ndcg"]
    assert new_ndcg < old_ndcg - 0.1  # popularity ignores the blocks
    assert line == (
        "run 1 (item-knn) was 60 user-item pairs behind: run 2 (popularity) trained but not "
        f"activated: validation NDCG@10 {new_ndcg:.4f} < {old_ndcg:.4f} of run 1, which stays "
        "active"
    )
    assert old["active"] and not new["active"] and new["artifact_path"]
    assert metrics["activated"] is False and metrics["replaced_run"] == 1
    # the same configuration on the same data is not trained again every night
    assert _retrain(capsys, toy_home, "--model", "popularity") == (
        "run 1 (item-knn) is 60 user-item pairs behind, but run 2 was trained on the current "
        "data with these parameters and not activated: not retrained"
    )
    assert len(_runs(toy_home)) == 2
    # another configuration is trained; a wide enough tolerance lets a worse one through
    line = _retrain(capsys, toy_home, "--model", "popularity", "--param", "measure=plays",
                    "--tolerance", "1")  # fmt: skip
    assert line.startswith("run 1 (item-knn) was 60 user-item pairs behind: run 3 (popularity)")
    assert line.endswith(" - 1 of run 1)") and "trained and activated" in line
    assert [r["active"] for r in _runs(toy_home)] == [True, False, False]


def test_a_retrain_that_was_not_activated_does_not_serve_in_the_app(
    toy_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _more(tmp_path, capsys, toy_home)
    assert "not activated" in _retrain(capsys, toy_home, "--model", "popularity")
    with Store.open(Settings(home=toy_home)) as store:
        run = usable_run(store, load_data(store, TOY))
    assert run is not None and run["id"] == 1


def test_the_old_number_is_measured_on_the_old_data_when_none_was_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    _import(capsys, home, _blocks(tmp_path / "v1.csv", 40, seed=0))
    code, _, err = _cli(capsys, home, "train", "--dataset", TOY, "--model", "item-knn")
    assert code == 0, err
    old_data = _toy(home)
    _more(tmp_path, capsys, home)
    code, out, err = _cli(capsys, home, "train", "--dataset", TOY, "--if-stale", "--json")
    assert code == 0, err
    payload = json.loads(out)
    expected = validation_ndcg(old_data, "item-knn", {})["ndcg"]
    assert payload["old_ndcg_source"] == "measured" and payload["old_ndcg"] == expected
    assert (payload["action"], payload["old_run"], payload["new_run"]) == ("activated", 1, 2)
    assert payload["activated"] is True and payload["retrained"] is True
    assert payload["staleness"]["arrived"] == 60 and payload["behind"] == 60
    assert payload["message"].startswith("run 1 (item-knn) was 60 user-item pairs behind")


def test_removed_pairs_count_as_a_change(
    toy_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(capsys, toy_home, "forget", "--user", f"{TOY}:user:u3", "--yes")
    assert code == 0, err
    line = _retrain(capsys, toy_home, "--min-new", "6")  # u3 had 6 pairs
    assert line.startswith("run 1 (item-knn) was 6 user-item pairs behind: run 2 (item-knn)")


def test_errors_are_one_line(toy_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        ("train", "--dataset", TOY): "train needs --model NAME (or --if-stale",
        ("train", "--model", "als", "--min-new", "5"): "apply to `timbre train --if-stale` only",
        ("train", "--if-stale", "--min-new", "0"): "--min-new must be at least 1, got 0",
        ("train", "--if-stale", "--tolerance", "-1"): "--tolerance must be 0 or more",
        ("train", "--if-stale", "--no-activate"): "drop --no-activate",
        ("train", "--if-stale", "--param", "factors=8"): "the item-knn model has no parameter",
    }
    for argv, expected in cases.items():
        code, out, err = _cli(
            capsys, toy_home, *argv, *(() if "--dataset" in argv else ("--dataset", TOY))
        )
        assert code == 1 and out == "", argv
        assert err.startswith("timbre: error: ") and expected in err, (argv, err)
        assert err.count("\n") == 1, err
    assert len(_runs(toy_home)) == 1


@pytest.mark.slow
def test_a_clearly_worse_als_on_the_demo_keeps_the_old_run(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    code, _, err = _cli(capsys, home, "train", "--model", "als", "--param", "factors=16")
    assert code == 0, err
    csv = tmp_path / "plays.csv"
    csv.write_text("user,item,weight\nme,Metallica,40\nme,Slayer,20\nme,Opeth,9\n")
    code, _, err = _cli(capsys, home, "import", str(csv), "--format", "interactions-csv",
                        "--dataset", DEMO_DATASET)  # fmt: skip
    assert code == 0, err
    argv = ["train", "--if-stale", "--param", "factors=1", "--param", "iterations=1", "--json"]
    code, out, err = _cli(capsys, home, *argv)
    assert code == 0, err
    payload = json.loads(out)
    assert payload["action"] == "kept" and payload["old_ndcg_source"] == "measured"
    assert payload["new_ndcg"] < payload["old_ndcg"] - 0.05, payload
    assert "trained but not activated" in payload["message"]
    runs = _runs(home)
    assert [r["active"] for r in runs] == [False, True]


@pytest.mark.slow
def test_the_train_page_shows_the_serving_runs_staleness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"  # as tests/app/conftest.py's empty_app_home
    monkeypatch.setenv("TIMBRE_HOME", str(home))
    monkeypatch.delenv("TIMBRE_DATABASE_URL", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    _import(capsys, home, _blocks(tmp_path / "v1.csv", 40, seed=0))
    _retrain(capsys, home, "--model", "item-knn")
    at = open_page("app_pages/train.py")
    assert not at.exception and not at.error, [e.value for e in at.error]
    texts = [t.value for t in at.text]
    assert "Run 1 (item-knn) serves toy: trained on the current data" in texts, texts
    _more(tmp_path, capsys, home)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = open_page("app_pages/train.py")
    assert not at.exception
    assert (
        "Run 1 (item-knn) serves toy: stale: 60 user-item pairs arrived or changed since "
        "training (10 new users, 0 new items); retrain to include them"
    ) in [t.value for t in at.text]
    st.cache_data.clear()
    st.cache_resource.clear()
