"""The ``timbre`` command: demo, import, stats, and one-line errors with a non-zero exit."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli as _run
from timbre.config import Settings
from timbre.store import Store

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def test_stats_json_on_the_demo_gives_the_hetrec_counts(
    demo_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "--home", str(demo_home), "stats", "--json")
    assert code == 0, err
    stats = json.loads(out)
    hetrec = stats["datasets"]["hetrec-lastfm-2k"]
    assert (hetrec["users"], hetrec["items"], hetrec["interactions"]) == (1892, 17632, 92834)
    assert stats["items"]["artist"] == 17632
    assert stats["catalog"]["tracks"] == 28352
    assert 0 < hetrec["catalog_match_rate"] < 1


def test_python_dash_m_runs_the_same_command(demo_home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "timbre", "--home", str(demo_home), "stats"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "hetrec-lastfm-2k" in done.stdout and "92,834 interactions" in done.stdout


def test_import_lastfm_export_reports_and_is_idempotent(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    sample = next(SAMPLES.glob("*lastfm*.csv"))
    code, out, err = _run(
        capsys, "--home", str(home), "import", str(sample), "--user", "rj", "--json"
    )
    assert code == 0, err
    first = json.loads(out)
    assert first["accepted"] > 0 and first["catalog_match_rate"] is not None
    code, out, err = _run(
        capsys, "--home", str(home), "import", str(sample), "--user", "rj", "--json"
    )
    again = json.loads(out)
    assert code == 0
    assert all(n == 0 for n in again["written"].values()), again["written"]


def test_import_spotify_zip_reports_per_reason_counts(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    sample = next(SAMPLES.glob("*.zip"))
    code, out, err = _run(capsys, "--home", str(home), "import", str(sample), "--user", "me")
    assert code == 0, err
    assert "dropped" in out and "catalogue match" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["import", "/nonexistent/plays.csv"], "/nonexistent/plays.csv"),
        (["import", "__FILE__", "--format", "no-such-format"], "no-such-format"),
        (["import", "__FILE__", "--format", "interactions-csv", "--column", "user"], "ROLE=NAME"),
    ],
)
def test_errors_are_one_line_on_stderr_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    path = tmp_path / "plays.csv"
    path.write_text("user,item\nu1,a\n")
    argv = [str(path) if a == "__FILE__" else a for a in argv]
    code, _out, err = _run(capsys, "--home", str(tmp_path / "home"), *argv)
    assert code == 1
    assert err.startswith("timbre: error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err


def test_empty_store_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--home", str(tmp_path), "stats", "--json")
    assert code == 0
    stats = json.loads(out)
    assert stats["users"] == 0 and stats["interactions"] == 0 and stats["datasets"] == {}


@pytest.mark.slow
def test_train_similar_recommend_and_runs_from_the_cli(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    code, out, err = _run(
        capsys, "--home", str(home), "train", "--model", "item-knn", "--param", "K=50", "--json"
    )
    assert code == 0, err
    run = json.loads(out)
    assert run["params"]["K"] == 50 and run["interactions"] == 92834
    assert Path(run["artifact"]).exists()
    code, out, err = _run(
        capsys, "--home", str(home), "similar", "--item", "metallica", "-n", "5", "--json"
    )
    assert code == 0, err
    similar = json.loads(out)
    assert similar["run_id"] == run["run_id"]
    assert "Iron Maiden" in [row["name"] for row in similar["similar"]]
    code, out, err = _run(capsys, "--home", str(home), "recommend", "--user", "2", "--json")
    assert code == 0, err
    recs = json.loads(out)["recommendations"]
    assert [r["rank"] for r in recs] == list(range(1, 11))
    # --save records the list with its run, weights and each item's parts
    code, out, err = _run(
        capsys, "--home", str(home), "recommend", "--user", "2", "--weights",
        "cf=1,diversity=0.2", "--normalization", "rank", "--save",
    )  # fmt: skip
    assert code == 0 and "saved this list of 10 items with run" in out, err
    with Store.open(Settings(home=home)) as store:
        saved = store.list_saved_recommendations("hetrec:user:2")
    assert [r["rank"] for r in saved] == list(range(1, 11))
    assert {r["run_id"] for r in saved} == {run["run_id"]}
    first = saved[0]["components"]
    assert first["weights"]["diversity"] == 0.2 and first["normalization"] == "rank"
    assert first["cf"] + first["diversity_bonus"] == pytest.approx(saved[0]["score"], abs=1e-5)
    code, out, err = _run(capsys, "--home", str(home), "recommend", "--all-users", "--save")
    assert code != 0 and "--save records one user's list" in err
    code, out, err = _run(capsys, "--home", str(home), "runs")
    assert code == 0 and f"* {run['run_id']:>4}  item-knn" in out
    code, out, err = _run(capsys, "--home", str(home), "runs", "delete", str(run["run_id"]))
    assert code == 0 and not Path(run["artifact"]).exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--model", "als", "--param", "factors=many"], "'factors' must be a whole"),
        (["train", "--model", "als", "--param", "depth=3"], "has no parameter 'depth'"),
        (["similar", "--item", "Metallica"], "no trained model for data set"),
        (["recommend", "--user", "nobody", "--model", "als"], "no trained als model"),
    ],
)
def test_model_commands_fail_with_one_clear_line(
    demo_home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = _run(capsys, "--home", str(demo_home), *argv)
    assert code == 1 and out == ""
    assert err.startswith("timbre: error: ") and message in err
    assert err.count("\n") == 1


FAMILY_PARAMS = {
    "als": ["factors=16"],
    "bpr": ["iterations=10"],
    "item-knn": [],
    "user-knn": [],
    "ease": ["max_items=1000"],
    "popularity": [],
    "content": [],
}


@pytest.mark.slow
def test_every_model_family_trains_and_recommends_from_the_cli(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from timbre.models import MODELS

    assert set(FAMILY_PARAMS) == set(MODELS)
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    for model, params in FAMILY_PARAMS.items():
        argv = ["--home", str(home), "train", "--model", model, "--json"]
        for param in params:
            argv += ["--param", param]
        code, out, err = _run(capsys, *argv)
        assert code == 0, (model, err)
        code, out, err = _run(
            capsys, "--home", str(home), "recommend", "--user", "2", "--model", model, "--json"
        )
        assert code == 0, (model, err)
        recs = json.loads(out)["recommendations"]
        assert len(recs) == 10 and json.loads(out)["model"] == model


def test_datasets_lists_and_deletes_only_with_yes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 17: data sets could not be deleted from the CLI."""
    source = tmp_path / "plays.csv"
    source.write_text("user,artist,plays\nu1,Slayer,3\nu2,Slayer,1\n", encoding="utf-8")
    home = ["--home", str(tmp_path / "home")]
    assert _run(capsys, *home, "import", str(source), "--dataset", "plays")[0] == 0
    code, out, _ = _run(capsys, *home, "datasets", "list")
    assert code == 0 and "plays (csv)" in out
    code, _, err = _run(capsys, *home, "datasets", "delete", "plays")
    assert code == 1 and "would delete its 2 interactions" in err and "pass --yes" in err
    code, out, err = _run(capsys, *home, "datasets", "delete", "plays", "--yes")
    assert code == 0, err
    assert "deleted data set 'plays' and its 2 interactions" in out
    code, _, err = _run(capsys, *home, "datasets", "delete", "plays", "--yes")
    assert code == 1 and "no data set named 'plays'" in err
