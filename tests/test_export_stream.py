"""The all-listeners export written a batch of listeners at a time (issue 15): the file reads
back as the one table the export used to hold in memory (Parquet and CSV, provenance and
formula neutralisation included), it appears complete or not at all, and every row carries
its "because" reason exactly as the single-list path gives it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from timbre import export, hybrid
from timbre.export import provenance, write_table, write_table_stream
from timbre.hybrid import HybridEngine, Weights
from timbre.interactions import InteractionData
from timbre.models import create_model

CF_ONLY = hybrid.preset("cf-only")
#: Spread over the demo's users; each batch of 7 holds some whose lists have items without
#: a reason (no listened item similar to them).
USERS = np.arange(0, 1890, 9)


@pytest.fixture(scope="module")
def engine(demo_data: InteractionData) -> HybridEngine:
    model = create_model("als", {"factors": 16, "iterations": 5}).fit(demo_data)
    return HybridEngine(demo_data, model, profiles={demo_data.users.id(9): {"openness": 1.5}})


def _comments() -> list[str]:
    return provenance("demo", Weights().as_dict(), "minmax", "svd", {"id": 1, "model": "als"})


def _hostile(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with names a spreadsheet would run (what CSV must neutralise)."""
    out = frame.copy()
    out.loc[out["rank"] % 5 == 0, "item_name"] = '=HYPERLINK("http://x")'
    out.loc[out["rank"] % 5 == 1, "artist"] = "@SUM(A1)"
    return out


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_the_streamed_export_reads_back_as_the_whole_table(
    engine: HybridEngine, tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "STREAM_ROWS", 500)  # several row groups
    frames = list(hybrid.batch_frames(engine, USERS, Weights(), 12, batch=7))
    assert len(frames) == -(-len(USERS) // 7)
    whole = hybrid.batch_frame(engine, USERS, Weights(), 12)  # one batch of every user
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), whole)
    hostile = [_hostile(f) for f in frames]
    expected = _hostile(whole)
    streamed = tmp_path / f"streamed{suffix}"
    at_once = tmp_path / f"at_once{suffix}"
    assert write_table_stream(iter(hostile), streamed, _comments()) == len(whole)
    write_table(expected, at_once, _comments())
    if suffix == ".csv":  # the very bytes one write of the whole table gives
        assert streamed.read_bytes() == at_once.read_bytes()
        back = pd.read_csv(streamed, comment="#", keep_default_na=False)
        assert not back["item_name"].str.startswith("=").any()
        assert len(back) == len(whole)
        return
    assert pq.ParquetFile(streamed).metadata.num_row_groups > 1
    got, want = pd.read_parquet(streamed), pd.read_parquet(at_once)
    pd.testing.assert_frame_equal(got, want)
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs == want.attrs and got.attrs["made_with"][1] == "data set: demo"
    assert json.loads(streamed.with_suffix(".json").read_text()) == json.loads(
        at_once.with_suffix(".json").read_text()
    )


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_failed_export_leaves_no_file(
    engine: HybridEngine, tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "STREAM_ROWS", 50)  # a row group is written before the failure

    def frames() -> Iterator[pd.DataFrame]:
        yield from hybrid.batch_frames(engine, USERS[:20], CF_ONLY, 10, batch=5)
        raise RuntimeError("ranking failed half way")

    target = tmp_path / f"out{suffix}"
    with pytest.raises(RuntimeError, match="half way"):
        write_table_stream(frames(), target, _comments())
    assert list(tmp_path.iterdir()) == []  # no file, no temporary, no sidecar


def test_no_listeners_give_the_columns_alone(engine: HybridEngine, tmp_path: Path) -> None:
    frames = list(hybrid.batch_frames(engine, [], CF_ONLY, 10))
    assert len(frames) == 1 and frames[0].empty
    assert list(frames[0].columns) == list(hybrid.EXPORT_COLUMNS)
    target = tmp_path / "none.csv"
    assert write_table_stream(frames, target, ["nothing"]) == 0
    assert target.read_text().splitlines() == ["# nothing", ",".join(
        f'"{c}"' for c in hybrid.EXPORT_COLUMNS
    )]  # fmt: skip


@pytest.mark.parametrize("weights", [CF_ONLY, Weights()], ids=["cf-only", "default"])
def test_every_export_row_has_the_reason_the_single_list_gives(
    engine: HybridEngine, weights: Weights
) -> None:
    """Issue 15: the export's "because" column was joined with Arrow's element-wise join,
    which drops a row whose reasons are all missing, so the reasons after it moved up a row
    and the last rows of the file had none."""
    data = engine.data
    frame = hybrid.batch_frame(engine, USERS, weights, 12)
    shown = data.display_names
    missing = 0
    for user in USERS.tolist():
        ranking = engine.rank(engine.components_for_user(user), weights, 12)
        want = ["; ".join(str(shown[i]) for i in found) for found in ranking.because]
        missing += sum(not w for w in want)
        rows = frame[frame["user_id"] == data.users.id(user)]
        assert rows["item_id"].tolist() == [str(data.items.ids[i]) for i in ranking.items]
        assert rows["because"].tolist() == want, user
        single = hybrid.ranking_frame(data, ranking, data.users.id(user))
        assert single["because"].tolist() == want, user
    assert missing > 0  # the data holds the case that broke it
    assert frame["because"].notna().all() and (frame["because"] != "").mean() > 0.5
