"""The global time cut: train before one moment, test on what came after, nothing later leaks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.cli_helpers import run_cli
from timbre.errors import ParameterError, TimbreError
from timbre.evaluation import SplitSpec, SweepSpec, make_split, sweep
from timbre.interactions import InteractionData

START = pd.Timestamp("2024-01-01", tz="UTC")


def _event(user: str, item: str, day: int) -> dict[str, object]:
    return {
        "user_key": user,
        "item_key": item,
        "weight": 1.0,
        "timestamp": START + pd.Timedelta(days=day),
    }


def _data() -> InteractionData:
    rows = [
        _event("ana", "a", 0),
        _event("ana", "b", 1),
        _event("ana", "c", 12),  # new after the cut: a test item
        _event("ana", "a", 13),  # a replay after the cut: neither side
        _event("bo", "a", 2),
        _event("bo", "b", 14),  # new after the cut
        _event("cy", "c", 15),  # no history before the cut: not evaluated
        _event("di", "b", 3),  # nothing after the cut: not evaluated
        _event("ed", "c", 4),
        _event("ed", "c", 16),  # only a replay after the cut
    ]
    items = pd.DataFrame({"key": list("abc"), "name": list("ABC")})
    return InteractionData.from_frames(pd.DataFrame(rows), items, "timed")


def _pairs(data: InteractionData, matrix: object) -> set[tuple[str, str]]:
    coo = matrix.tocoo()  # type: ignore[attr-defined]
    return {
        (data.users.id(int(u)), data.items.id(int(i)))
        for u, i in zip(coo.row, coo.col, strict=True)
    }


def test_train_is_before_the_cut_and_test_is_what_was_new_after_it() -> None:
    data = _data()
    split = make_split(data, SplitSpec("global-time", cut="2024-01-10"))
    assert _pairs(data, split.train.user_items) == {
        ("ana", "a"),
        ("ana", "b"),
        ("bo", "a"),
        ("di", "b"),
        ("ed", "c"),
    }
    assert _pairs(data, split.test) == {("ana", "c"), ("bo", "b")}
    # the replay after the cut adds no weight to train: train is exactly the earlier events
    assert split.train.user_items[data.users.index("ana"), data.items.index("a")] == 1.0
    assert split.info["cut"] == "2024-01-10T00:00:00+00:00"
    assert split.info["events_after_cut_unused"] == 3
    assert split.info["not_evaluated"] == {
        "no events after the cut": 1,
        "no events before the cut": 1,
        "after the cut only items already played before": 1,
    }
    assert split.train.events is not None
    assert (split.train.events["timestamp"] < pd.Timestamp("2024-01-10", tz="UTC")).all()


def test_without_a_cut_the_latest_share_of_events_is_the_test_period() -> None:
    data = _data()
    split = make_split(data, SplitSpec("global-time", test_fraction=0.5))
    # ten events: the cut falls on the sixth (day 12), so five events are before it
    assert split.info["cut"] == (START + pd.Timedelta(days=12)).isoformat()
    assert split.train.user_items.sum() == 5


def test_the_validation_split_cuts_the_training_part_again() -> None:
    data = _data()
    spec = SplitSpec("global-time", test_fraction=0.4, cut="2024-01-10")
    outer = make_split(data, spec)
    inner = spec.validation().make(outer.train)
    assert pd.Timestamp(inner.info["cut"]) < pd.Timestamp(outer.info["cut"])
    assert not _pairs(data, inner.test) & _pairs(data, outer.test)


def test_tags_given_after_the_cut_do_not_reach_the_training_side() -> None:
    data = _data()
    weights = pd.DataFrame({"item_key": ["c", "c"], "tag": ["rock", "jazz"], "weight": [1.0, 1.0]})
    assignments = pd.DataFrame(
        {
            "user_key": ["di", "ed"],
            "item_key": ["c", "c"],
            "tag": ["rock", "jazz"],
            "timestamp": [START + pd.Timedelta(days=5), START + pd.Timedelta(days=20)],
        }
    )
    split = make_split(
        data.with_tags(weights, assignments), SplitSpec("global-time", cut="2024-01-10")
    )
    assert split.info["tag_assignments_held_out"] == 1
    c = data.items.index("c")
    assert split.train.item_meta["tags"][c] == ["rock"]


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        (dict(protocol="global-time", cut="soon"), ParameterError, "cut must be a date"),
        (dict(protocol="user-holdout", cut="2024-01-10"), ParameterError, "global-time split only"),
    ],
)
def test_bad_cuts_are_refused_when_the_spec_is_made(
    spec: dict[str, str], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        SplitSpec(**spec)  # type: ignore[arg-type]


def test_a_cut_outside_the_data_says_where_the_data_lies(demo_data: InteractionData) -> None:
    with pytest.raises(TimbreError, match="events run from 2024-01-01"):
        make_split(_data(), SplitSpec("global-time", cut="2030-01-01"))
    with pytest.raises(TimbreError, match="has no timestamps"):
        make_split(demo_data, SplitSpec("global-time"))


def _random_rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        {
            "user": f"u{u}",
            "item": f"i{int(rng.integers(40))}",
            "weight": 1,
            "timestamp": (START + pd.Timedelta(hours=int(rng.integers(24 * 60)))).isoformat(),
        }
        for u in range(30)
        for _ in range(25)
    ]
    return pd.DataFrame(rows)


def test_a_sweep_tunes_on_the_training_period_only() -> None:
    rows = _random_rows().rename(columns={"user": "user_key", "item": "item_key"})
    items = pd.DataFrame({"key": sorted(rows["item_key"].unique())})
    data = InteractionData.from_frames(rows, items, "random")
    spec = SplitSpec("global-time", cut="2024-02-10")
    result = sweep(data, SweepSpec("popularity", {"measure": ["users", "plays"]}, split=spec))
    assert pd.Timestamp(result.splits["validation"]["cut"]) < pd.Timestamp("2024-02-10", tz="UTC")
    assert result.splits["test"]["cut"] == "2024-02-10T00:00:00+00:00"


def test_cli_evaluates_a_timestamped_import_at_a_global_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    source = tmp_path / "plays.csv"
    _random_rows().to_csv(source, index=False)
    code, out, err = run_cli(capsys, "--home", home, "import", str(source), "--dataset", "timed")
    assert code == 0, err
    argv = ["--home", home, "evaluate", "--dataset", "timed", "--models", "popularity"]
    code, out, err = run_cli(capsys, *argv, "--split", "global-time", "--cut", "2024-02-10")
    assert code == 0, err
    assert "train before 2024-02-10T00:00:00+00:00, test after" in out
    code, out, err = run_cli(capsys, *argv, "--split", "global-time", "--json")
    payload = json.loads(out)
    assert payload["split"]["protocol"] == "global-time" and payload["split"]["cut"]
    code, out, err = run_cli(capsys, *argv, "--split", "global-time", "--cut", "1999-01-01")
    assert code == 1 and "leaves no events on one side" in err and err.count("\n") == 1
