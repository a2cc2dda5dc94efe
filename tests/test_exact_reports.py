"""Issue 16, item 7: import reports that say exactly what this import did, on both backends."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from timbre.records import ImportBatch, ImportReport
from timbre.sources.exports import read_lastfm_csv
from timbre.store import Store


def _plays(dataset: str, users: list[str], items: list[str], weight: float = 1.0) -> ImportBatch:
    """Every user plays every item once (aggregated counts, no time)."""
    pairs = [(u, i) for u in users for i in items]
    return ImportBatch(
        dataset=dataset,
        source="test",
        report=ImportReport(source="test", dataset=dataset),
        users=pd.DataFrame({"key": users, "name": users}),
        items=pd.DataFrame(
            {
                "key": items,
                "kind": "artist",
                "name": items,
                "artist": [None] * len(items),
                "link_key": "",
            }
        ),
        interactions=pd.DataFrame(
            {
                "user_key": [u for u, _ in pairs],
                "item_key": [i for _, i in pairs],
                "event": "play",
                "weight": weight,
                "timestamp": pd.NaT,
            }
        ),
    )


def test_reimporting_a_changed_weight_reports_it_updated(store: Store) -> None:
    first = store.write_batch(_plays("d", ["u1"], ["a", "b"]))
    assert first.written["interactions"] == 2
    changed = _plays("d", ["u1"], ["a", "b"])
    changed.interactions.loc[0, "weight"] = 5.0
    report = store.write_batch(changed)
    assert report.written["interactions"] == 0
    assert report.updated["interactions"] == 1 and report.unchanged["interactions"] == 1
    assert "interactions: 0 new, 1 updated, 1 unchanged" in report.summary()
    inter, _ = store.load_dataset("d")
    assert sorted(inter["weight"]) == [1.0, 5.0]
    again = store.write_batch(changed)
    assert again.updated["interactions"] == 0 and again.unchanged["interactions"] == 2


@pytest.mark.postgres
def test_concurrent_postgres_imports_count_only_their_own_rows(pg_url: str) -> None:
    Store.open(pg_url).close()
    big = _plays("big", [f"b{u}" for u in range(150)], [f"x{i}" for i in range(200)])
    reports: dict[str, list[ImportReport]] = {"big": [], "small": []}
    done = threading.Event()

    def write_big() -> None:
        with Store.open(pg_url) as store:
            reports["big"].append(store.write_batch(big))
        done.set()

    def write_small() -> None:
        with Store.open(pg_url) as store:
            n = 0
            while not done.is_set() and n < 200:
                batch = _plays(f"small{n}", [f"s{n}"], [f"y{n}-{i}" for i in range(50)])
                reports["small"].append(store.write_batch(batch))
                n += 1

    threads = [threading.Thread(target=write_big), threading.Thread(target=write_small)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(reports["big"]) == 1 and len(reports["small"]) > 1
    assert reports["big"][0].written["interactions"] == 150 * 200
    assert reports["big"][0].written["users"] == 150
    assert {r.written["interactions"] for r in reports["small"]} == {50}
    with Store.open(pg_url) as store:
        total = store.table_counts()["interactions"]
    assert total == 150 * 200 + 50 * len(reports["small"])


def _export(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _scrobbles(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    start = pd.Timestamp("2022-03-01", tz="UTC")
    seconds = np.sort(rng.choice(30 * 24 * 3600, size=n, replace=False)) * 1  # distinct times
    return pd.DataFrame(
        {
            "time": start + pd.to_timedelta(seconds, unit="s"),
            "artist": [f"Artist {i % 13}" for i in range(n)],
            "track": [f"Track {i % 29}" for i in range(n)],
        }
    )


def _seconds_layout(frame: pd.DataFrame) -> list[str]:
    rows = ["uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid"]
    for t, a, tr in zip(frame["time"], frame["artist"], frame["track"], strict=True):
        rows.append(f'{int(t.timestamp())},"{t:%d %b %Y, %H:%M}",{a},,Album,,{tr},')
    return rows


def _minute_layout(frame: pd.DataFrame) -> list[str]:
    return [
        f"{a},Album,{tr},{t:%d %b %Y %H:%M}"
        for t, a, tr in zip(frame["time"], frame["artist"], frame["track"], strict=True)
    ]


@pytest.mark.parametrize("order", ["seconds-then-minutes", "minutes-then-seconds"])
def test_one_scrobble_is_one_row_across_the_lastfm_export_layouts(
    store: Store, tmp_path: Path, order: str
) -> None:
    frame = _scrobbles(199)
    seconds = _export(tmp_path, "rj-seconds.csv", _seconds_layout(frame))
    minutes = _export(tmp_path, "rj-minutes.csv", _minute_layout(frame))
    first, second = (seconds, minutes) if order.startswith("seconds") else (minutes, seconds)
    store.write_batch(read_lastfm_csv(first, user="rj"))
    report = store.write_batch(read_lastfm_csv(second, user="rj"))
    assert store.table_counts()["interactions"] == 199
    assert report.written["interactions"] == 0
    if order.startswith("minutes"):  # the stored minutes are refined to the second
        with_seconds = int((frame["time"].dt.second != 0).sum())
        assert report.updated["interactions"] == with_seconds
        assert report.unchanged["interactions"] == 199 - with_seconds
    inter, _ = store.load_dataset("lastfm-export")
    assert sorted(inter["timestamp"]) == sorted(frame["time"])
    again = store.write_batch(read_lastfm_csv(minutes, user="rj"))
    assert again.written["interactions"] == 0
    assert store.table_counts()["interactions"] == 199
