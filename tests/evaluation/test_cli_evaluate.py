"""``timbre evaluate``: the JSON contract, and saved files that reproduce every metric."""

from __future__ import annotations

import csv
import json
import math
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli as _run

METRIC_KEYS = {
    "ndcg",
    "precision",
    "recall",
    "map",
    "hit_rate",
    "coverage",
    "diversity",
    "novelty",
    "arp",
    "users",
    "fit_seconds",
    "recommend_seconds",
}


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _recompute(
    train_rows: list[dict[str, str]],
    test_rows: list[dict[str, str]],
    rec_rows: list[dict[str, str]],
    k: int,
    n_items: int,
    n_users: int,
) -> dict[str, dict[str, float]]:
    """Every metric from the three CSV files alone, written out plainly."""
    test: dict[str, set[str]] = defaultdict(set)
    for row in test_rows:
        test[row["user_id"]].add(row["item_id"])
    listeners: dict[str, set[str]] = defaultdict(set)
    for row in train_rows:
        listeners[row["item_id"]].add(row["user_id"])
    trained = set(listeners)  # items with at least one train listener: coverage's catalogue
    lists: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for row in sorted(rec_rows, key=lambda r: (r["model"], r["user_id"], int(r["rank"]))):
        lists[row["model"]][row["user_id"]].append(row["item_id"])
    out: dict[str, dict[str, float]] = {}
    for model, by_user in lists.items():
        sums = defaultdict(float)
        novelty, arp, ild, items_seen = [], [], [], set()
        for user, ranked in by_user.items():
            truth = test[user]
            hits = [item in truth for item in ranked[:k]]
            dcg = sum(1 / math.log2(i + 2) for i, h in enumerate(hits) if h)
            idcg = sum(1 / math.log2(i + 2) for i in range(min(k, len(truth))))
            ap, found = 0.0, 0
            for i, hit in enumerate(hits):
                if hit:
                    found += 1
                    ap += found / (i + 1)
            sums["ndcg"] += dcg / idcg
            sums["precision"] += sum(hits) / k
            sums["recall"] += sum(hits) / len(truth)
            sums["map"] += ap / min(k, len(truth))
            sums["hit_rate"] += float(any(hits))
            items_seen.update(ranked)
            novelty.extend(-math.log2(max(len(listeners[i]), 1) / n_users) for i in ranked)
            arp.append(sum(len(listeners[i]) for i in ranked) / len(ranked))
            pairs = [
                len(listeners[a] & listeners[b]) / math.sqrt(len(listeners[a]) * len(listeners[b]))
                if listeners[a] and listeners[b]
                else 0.0
                for x, a in enumerate(ranked)
                for y, b in enumerate(ranked)
                if x != y
            ]
            if pairs:
                ild.append(1 - sum(pairs) / len(pairs))
        n = len(by_user)
        out[model] = {name: value / n for name, value in sums.items()}
        out[model].update(
            coverage=len(items_seen & trained) / len(trained),
            novelty=sum(novelty) / len(novelty),
            arp=sum(arp) / len(arp),
            diversity=sum(ild) / len(ild),
            users=n,
        )
    return out


@pytest.mark.slow
def test_evaluate_json_contract_and_saved_files_reproduce_the_metrics(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    code, out, err = _run(
        capsys,
        "--home",
        str(home),
        "evaluate",
        "--models",
        "popularity,item-knn",
        "--param",
        "item-knn.K=30",
        "--k",
        "10",
        "--seed",
        "1",
        "--json",
        "--save-split",
        str(tmp_path / "split"),
        "--save-recs",
        str(tmp_path / "recs.csv"),
    )
    assert code == 0, err
    payload = json.loads(out)
    assert set(payload) == {
        "split", "k", "ild_space", "models", "comparisons", "definitions", "record",
        "warnings",
    } and payload["k"] == 10  # fmt: skip
    assert payload["ild_space"] == "binary"
    assert "train listener" in payload["definitions"]["coverage"]
    (pair,) = payload["comparisons"]
    assert (pair["a"], pair["b"]) == ("popularity", "item-knn") and pair["mean_difference"] < 0
    assert pair["ci95_low"] < pair["mean_difference"] < pair["ci95_high"] < 0
    assert pair["wilcoxon_p_holm"] < 1e-6  # one pair: Holm changes nothing
    record = payload["record"]
    assert record["split"] == {"protocol": "user-holdout", "test_fraction": 0.2, "seed": 1,
                               "k_out": 1, "cut": None}  # fmt: skip
    assert record["fingerprint"] and record["environment"]["libraries"]["implicit"]
    assert record["rankers"]["item-knn"]["params"]["K"] == 30  # the --param given
    assert set(payload["models"]) == {"popularity", "item-knn"}
    for metrics in payload["models"].values():
        assert set(metrics) == METRIC_KEYS
    split = payload["split"]
    assert split["protocol"] == "user-holdout" and split["seed"] == 1
    assert split["test_fraction"] == 0.2

    train = _read(tmp_path / "split" / "train.csv")
    test = _read(tmp_path / "split" / "test.csv")
    recs = _read(tmp_path / "recs.csv")
    assert list(train[0]) == ["user_id", "item_id", "weight"]
    assert list(recs[0]) == ["model", "user_id", "rank", "item_id", "score"]
    assert len(train) + len(test) == 92834
    assert not {(r["user_id"], r["item_id"]) for r in train} & {
        (r["user_id"], r["item_id"]) for r in test
    }
    recomputed = _recompute(train, test, recs, 10, split["items"], split["users"])
    for model, metrics in payload["models"].items():
        assert metrics["users"] == recomputed[model]["users"] == split["test_users"]
        for name in (
            "ndcg",
            "precision",
            "recall",
            "map",
            "hit_rate",
            "coverage",
            "novelty",
            "arp",
            "diversity",
        ):
            assert metrics[name] == pytest.approx(recomputed[model][name], abs=1e-6), name


@pytest.mark.slow
def test_evaluate_records_metrics_in_the_registry_without_artifacts(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    code, out, err = _run(capsys, "--home", str(home), "evaluate", "--models", "popularity")
    assert code == 0, err
    assert "popularity" in out and "ndcg" in out
    code, out, err = _run(capsys, "--home", str(home), "runs", "--json")
    runs = json.loads(out)
    assert len(runs) == 1 and runs[0]["artifact_path"] is None and not runs[0]["active"]
    assert runs[0]["metrics"]["split"]["protocol"] == "user-holdout"
    assert 0 < runs[0]["metrics"]["ndcg"] < 1
    # an evaluation run cannot serve recommendations: the CLI says to train one
    code, out, err = _run(capsys, "--home", str(home), "recommend", "--user", "2")
    assert code == 1 and "no trained model" in err


@pytest.mark.slow
def test_sweep_prints_early_results_and_records_the_best(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    code, out, err = _run(
        capsys, "--home", str(home), "sweep", "--model", "item-knn", "--grid", "K=5,100"
    )
    assert code == 0, err
    assert "[1/2] K=5: validation ndcg" in out and "[2/2] K=100" in out
    assert "chosen on validation: K=100" in out and "test ndcg" in out
    code, out, err = _run(capsys, "--home", str(home), "runs", "--json")
    assert len(json.loads(out)) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "--models", "als,svd"], "unknown model 'svd'"),
        (["evaluate", "--models", "als", "--param", "ease.l2=3"], "not among --models"),
        (["evaluate", "--models", "als", "--split", "temporal"], "has no timestamps"),
        (["evaluate", "--models", "als", "--test-fraction", "1.5"], "test_fraction must be"),
        (["sweep", "--model", "als", "--grid", "factors=a,b"], "must be a whole number"),
    ],
)
def test_evaluation_errors_are_one_clear_line(
    demo_home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = _run(capsys, "--home", str(demo_home), *argv)
    assert code == 1 and out == "" and message in err and err.count("\n") == 1
