"""The store on SQLite and PostgreSQL: schema, transactional idempotent writes, linking, reads."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from timbre.errors import DataError, StorageError
from timbre.records import ImportBatch, ImportReport, link_key
from timbre.services.data import load_data
from timbre.store import Store, head_revision


def catalog_batch() -> ImportBatch:
    tracks = [
        ("c1", "Hyperballad", "Björk"),
        ("c2", "Army of Me", "Björk"),
        ("c3", "Crazy in Love (feat. Jay-Z)", "Beyoncé"),
        ("c4", "Song", "Someone"),
    ]
    items = pd.DataFrame(
        {
            "key": [f"spotify:track:{t}" for t, _, _ in tracks],
            "kind": "track",
            "name": [n for _, n, _ in tracks],
            "artist": [a for _, _, a in tracks],
            "link_key": [link_key("track", n, a) for _, n, a in tracks],
        }
    )
    features = pd.DataFrame(
        {
            "item_key": items["key"],
            "energy": [0.2, 0.8, 0.9, 0.5],
            "valence": [0.3, 0.4, 0.9, np.nan],
            "popularity": [50, 60, 90, 1],
        }
    )
    tags = pd.DataFrame(
        {
            "item_key": items["key"],
            "kind": "genre",
            "tag": ["electronic", "rock", "r&b", "pop"],
            "weight": 1.0,
        }
    )
    return ImportBatch(
        "spotify-catalog",
        "catalog",
        ImportReport("catalog", "spotify-catalog"),
        items=items,
        features=features,
        tags=tags,
        is_catalog=True,
    )


def listening_batch(weights: tuple[float, ...] = (5.0, 2.0, 1.0)) -> ImportBatch:
    items = pd.DataFrame(
        {
            "key": ["a:bjork", "a:beyonce", "a:unknown"],
            "kind": "artist",
            "name": ["BJORK", "Beyonce", "Nobody Known"],
            "artist": None,
            "link_key": [link_key("artist", n) for n in ("BJORK", "Beyonce", "Nobody Known")],
        }
    )
    users = pd.DataFrame({"key": ["u:1", "u:2"], "name": ["One", "Two"]})
    interactions = pd.DataFrame(
        {
            "user_key": ["u:1", "u:1", "u:2"],
            "item_key": ["a:bjork", "a:beyonce", "a:unknown"],
            "event": "play",
            "weight": list(weights),
            "timestamp": [pd.NaT, pd.Timestamp("2024-02-01 10:00", tz="UTC"), pd.NaT],
        }
    )
    tags = pd.DataFrame(
        {
            "item_key": ["a:bjork", "a:bjork"],
            "kind": "tag",
            "tag": ["icelandic", "electronic"],
            "weight": [3.0, 5.0],
        }
    )
    friends = pd.DataFrame({"user_key": ["u:1"], "friend_key": ["u:2"]})
    return ImportBatch(
        "toy",
        "csv",
        ImportReport("csv", "toy"),
        items=items,
        users=users,
        interactions=interactions,
        tags=tags,
        friends=friends,
    )


def test_fresh_store_is_at_the_head_revision(store: Store) -> None:
    assert store.schema_revision() == head_revision()
    assert all(n == 0 for n in store.table_counts().values())


def test_sqlite_store_uses_wal_and_a_busy_timeout(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_writing_the_same_batch_twice_changes_nothing(store: Store) -> None:
    store.write_batch(catalog_batch())
    first = store.write_batch(listening_batch())
    assert first.written["interactions"] == 3 and first.written["users"] == 2
    counts = store.table_counts()
    digest = store.content_digest()
    frames = store.load_dataset("toy")
    again = store.write_batch(listening_batch())
    assert store.table_counts() == counts
    assert store.content_digest() == digest
    assert again.written == {"interactions": 0, "items": 0, "users": 0}
    pd.testing.assert_frame_equal(store.load_dataset("toy")[0], frames[0])


def test_content_digest_sees_a_changed_value(store: Store) -> None:
    """The digest can fail: the same row counts with one weight changed give another digest."""
    store.write_batch(listening_batch())
    before = store.content_digest()
    store.write_batch(listening_batch(weights=(5.0, 2.0, 1.5)))
    after = store.content_digest()
    assert store.table_counts()["interactions"] == 3
    assert after["interactions"] != before["interactions"]
    assert after["users"] == before["users"]


def test_reimport_with_new_counts_updates_in_place(store: Store) -> None:
    store.write_batch(listening_batch())
    store.write_batch(listening_batch(weights=(7.0, 2.0, 1.0)))
    interactions, _ = store.load_dataset("toy")
    assert len(interactions) == 3
    row = interactions[interactions["item_key"] == "a:bjork"]
    assert row["weight"].tolist() == [7.0]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda b: b.interactions.__setitem__("event", ["play", "play", "listen"]),
            "unknown interaction event",
        ),
        (lambda b: b.interactions.__setitem__("weight", [1.0, math.inf, 1.0]), "not finite"),
        (lambda b: b.interactions.__setitem__("weight", [1.0, -2.0, 1.0]), "negative"),
        (
            lambda b: b.interactions.__setitem__("item_key", ["a:bjork", "a:beyonce", "a:ghost"]),
            "neither in the import nor in the store",
        ),
        (lambda b: b.items.__setitem__("kind", ["artist", "artist", "band"]), "unknown item kind"),
    ],
)
def test_a_bad_batch_is_refused_and_changes_nothing(store: Store, mutate, message: str) -> None:
    store.write_batch(catalog_batch())
    before = store.table_counts()
    digest = store.content_digest()
    batch = listening_batch()
    mutate(batch)
    with pytest.raises(DataError, match=message):
        store.write_batch(batch)
    assert store.table_counts() == before
    assert store.content_digest() == digest


def test_a_failure_after_many_good_rows_rolls_everything_back(store: Store) -> None:
    n = 12_000  # more than two write chunks before the bad row
    items = pd.DataFrame(
        {
            "key": [f"i:{k}" for k in range(n)],
            "kind": "artist",
            "name": [f"Artist {k}" for k in range(n)],
            "artist": None,
            "link_key": "",
        }
    )
    users = pd.DataFrame({"key": ["u"], "name": ["u"]})
    interactions = pd.DataFrame(
        {
            "user_key": "u",
            "item_key": items["key"],
            "event": "play",
            "weight": 1.0,
            "timestamp": pd.NaT,
        }
    )
    # the same user under two names in one batch is fine; an over-long kind is not
    items.loc[n - 1, "kind"] = "track"
    batch = ImportBatch(
        "big",
        "csv",
        ImportReport("csv", "big"),
        items=items,
        users=users,
        interactions=interactions,
    )
    store.write_batch(batch)
    before = store.table_counts()
    bad = ImportBatch(
        "big2",
        "csv",
        ImportReport("csv", "big2"),
        items=items.copy(),
        users=users,
        interactions=interactions.copy(),
    )
    bad.interactions.loc[n - 1, "item_key"] = "i:missing"
    with pytest.raises(DataError):
        store.write_batch(bad)
    assert store.table_counts() == before


def test_catalogue_linking_by_normalised_names(store: Store) -> None:
    store.write_batch(catalog_batch())
    report = store.write_batch(listening_batch())
    # BJORK and Beyonce match catalogue artists despite case and accents; the third does not
    assert (report.catalog_candidates, report.catalog_matched) == (3, 2)
    assert report.interactions_matched == 2
    _, items = store.load_dataset("toy")
    bjork = items.set_index("key").loc["a:bjork"]
    assert bjork["energy"] == pytest.approx(0.5)  # mean over the artist's two tracks
    assert bjork["genres"] == ["electronic", "rock"]
    assert bjork["tags"] == ["electronic", "icelandic"]  # by weight
    unknown = items.set_index("key").loc["a:unknown"]
    assert math.isnan(unknown["energy"]) and unknown["genres"] == []


def test_catalogue_written_after_the_listening_data_still_links(store: Store) -> None:
    store.write_batch(listening_batch())
    assert store.stats()["datasets"]["toy"]["catalog_match_rate"] == 0
    store.write_batch(catalog_batch())
    assert store.stats()["datasets"]["toy"]["catalog_match_rate"] == pytest.approx(2 / 3)


def test_stats_shape_and_values(store: Store) -> None:
    store.write_batch(catalog_batch())
    store.write_batch(listening_batch())
    stats = store.stats()
    assert stats["users"] == 2 and stats["interactions"] == 3
    assert stats["items"] == {"artist": 3, "track": 4, "album": 0}
    assert stats["catalog"] == {"tracks": 4, "artists": 3}
    toy = stats["datasets"]["toy"]
    assert (toy["users"], toy["items"], toy["interactions"]) == (2, 3, 3)
    assert toy["interactions_match_rate"] == pytest.approx(2 / 3)


def test_timestamps_round_trip_and_missing_ones_stay_missing(store: Store) -> None:
    store.write_batch(listening_batch())
    interactions, _ = store.load_dataset("toy")
    stamps = interactions.set_index("item_key")["timestamp"]
    assert stamps["a:beyonce"] == pd.Timestamp("2024-02-01 10:00", tz="UTC")
    assert pd.isna(stamps["a:bjork"])


def test_interaction_data_from_store(store: Store) -> None:
    store.write_batch(listening_batch())
    data = load_data(store, "toy")
    assert data.users.ids.tolist() == ["u:1", "u:2"]
    assert data.items.ids.tolist() == ["a:beyonce", "a:bjork", "a:unknown"]
    assert data.user_items.toarray().tolist() == [[2.0, 5.0, 0.0], [0.0, 0.0, 1.0]]


def test_unknown_dataset_is_a_clear_error(store: Store) -> None:
    with pytest.raises(DataError, match="no data set named 'nope'"):
        store.load_dataset("nope")


def test_delete_dataset_removes_its_interactions_only(store: Store) -> None:
    store.write_batch(listening_batch())
    assert store.delete_dataset("toy") == 3
    counts = store.table_counts()
    assert counts["interactions"] == 0 and counts["datasets"] == 0 and counts["items"] == 3


def test_profiles_runs_and_logs(store: Store) -> None:
    store.add_profile("u:1", "ipip50", {"E1": 3}, {"E": 3.0}, {"E": 50.0})
    newest = store.add_profile("u:1", "ipip50", {"E1": 5}, {"E": 5.0}, {"E": 99.0})
    latest = store.latest_profile("u:1")
    assert latest is not None and latest["id"] == newest and latest["answers"] == {"E1": 5}
    run = store.add_model_run(
        "als", {"factors": 8}, "toy", "abc", duration_s=1.0, artifact_path="x.npz"
    )
    other = store.add_model_run("als", {"factors": 16}, "toy", "abc")
    store.set_active_run(run)
    active = {r["id"]: r["active"] for r in store.list_model_runs()}
    assert active == {run: True, other: False}
    store.save_recommendations(
        run,
        [
            {
                "user_key": "u:1",
                "rank": 1,
                "item_key": "a:bjork",
                "score": 0.9,
                "components": {"cf": 0.9},
            }
        ],
    )
    assert store.delete_model_run(run) == "x.npz"
    assert store.table_counts()["saved_recommendations"] == 0
    store.add_fetch_log(user_key="lastfm:rj", source="lastfm", kinds="top", status="ok", rows=5)
    assert store.list_fetch_logs()["status"].tolist() == ["ok"]


def test_password_is_masked_in_the_shown_url() -> None:
    url = sa.make_url("postgresql+psycopg://me:secret@127.0.0.1:1/x")
    assert "secret" not in url.render_as_string(hide_password=True)


def test_unreachable_server_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="cannot open database") as info:
        Store.open("postgresql+psycopg://me:pw-not-shown@127.0.0.1:9/none?connect_timeout=2")
    assert "pw-not-shown" not in str(info.value)


def test_not_a_database_url_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="not a database URL"):
        Store.open("this is not a url")
