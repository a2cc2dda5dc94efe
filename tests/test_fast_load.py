"""Issue 15, fast load: ``load_data`` reads a data set's rows straight into arrays
(``Store.load_columns``, ``InteractionData.from_codes``) and gives exactly the InteractionData
of the frames path (``from_frames`` of ``Store.load_dataset``, then ``with_tags``): on the demo,
and on SQLite and PostgreSQL on a data set whose keys sort differently from their ids, collide
after case folding or normalisation, and repeat pairs across events and times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from timbre.config import Settings
from timbre.interactions import InteractionData
from timbre.records import ImportBatch, ImportReport
from timbre.services.data import load_data
from timbre.store import Store, loading
from timbre.store.schema import FEATURE_COLUMNS

#: Odd keys: case and accents that fold together, an emoji, a right-to-left mark, digits that
#: sort as text, a trailing space, a key that only differs from another by it.
ODD_USERS = ["u:Zoë", "u:zoe", "u:ZOE", "u:10", "u:9", "u:😀", "u:a ", "u:a", "u:\u202eevil"]
ODD_ITEMS = ["i:Straße", "i:strasse", "i:ß", "i:É", "i:e", "i:🎵 song", "i:x:1", "i:x:10"]


def _batch(dataset: str, users: list[str], items: list[str], seed: int) -> ImportBatch:
    """Every user plays a random share of the items, some pairs twice (two events, two times),
    with tags on the items and the users' own tags."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in users:
        for item in items:
            if rng.random() < 0.6:
                stamp = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(
                    seconds=int(rng.integers(0, 10**7))
                )
                rows.append((user, item, "play", float(rng.integers(1, 50)), stamp))
                if rng.random() < 0.3:  # the same pair again: another event, no time
                    rows.append((user, item, "love", 1.0, pd.NaT))
    interactions = pd.DataFrame(
        rows, columns=["user_key", "item_key", "event", "weight", "timestamp"]
    )
    names = [key.split(":", 1)[1] for key in items]
    tags = pd.DataFrame(
        {
            "item_key": [items[0], items[0], items[1], items[2]],
            "kind": ["tag", "tag", "tag", "genre"],
            "tag": ["rock", "Rock", "rock", "pop"],
            "weight": [5.0, 5.0, 1.0, 2.0],
        }
    )
    user_tags = pd.DataFrame(
        {
            "user_key": [users[0], users[1], users[0]],
            "item_key": [items[0], items[1], items[1]],
            "tag": ["rock", "rock", "noise"],
            "timestamp": [pd.Timestamp("2024-03-01", tz="UTC"), pd.NaT, pd.NaT],
        }
    )
    features = pd.DataFrame(
        {"item_key": [items[min(3, len(items) - 1)]], **{c: [0.5] for c in FEATURE_COLUMNS}}
    )
    return ImportBatch(
        dataset,
        "csv",
        ImportReport("csv", dataset),
        items=pd.DataFrame(
            {
                "key": items,
                "kind": ["track" if i % 2 else "artist" for i in range(len(items))],
                "name": ["Same Name" if i < 2 else n for i, n in enumerate(names)],
                "artist": ["Ärtist" if i % 2 else None for i in range(len(items))],
                "link_key": "",
            }
        ),
        users=pd.DataFrame({"key": users, "name": users}),
        interactions=interactions,
        tags=tags,
        user_tags=user_tags,
        features=features,
    )


def _odd_store(url: str) -> Store:
    """Data set ``odd`` written in two imports, the second's keys sorting before the first's
    (ids and key order differ), with another data set's users and items written in between
    (the ids of ``odd`` are not one run)."""
    store = Store.open(url)
    half_u, half_i = len(ODD_USERS) // 2, len(ODD_ITEMS) // 2
    store.write_batch(_batch("odd", ODD_USERS[half_u:], ODD_ITEMS[half_i:], 1))
    store.write_batch(_batch("other", [f"o:{n}" for n in range(5)], ["o:1", "o:2", "o:3"], 2))
    store.write_batch(_batch("odd", ODD_USERS, ODD_ITEMS, 3))
    return store


def _frames_path(store: Store, name: str) -> InteractionData:
    """The load before this change: per-row keys into frames, then ``from_frames``."""
    interactions, items = store.load_dataset(name)
    data = InteractionData.from_frames(interactions, items, name)
    return data.with_tags(*store.load_tags(name))


def assert_same_data(got: InteractionData, want: InteractionData) -> None:
    """Every part of two loads is equal: vocabularies, matrix arrays, every frame (dtypes too)."""
    np.testing.assert_array_equal(got.users.ids, want.users.ids)
    np.testing.assert_array_equal(got.items.ids, want.items.ids)
    for part in ("indptr", "indices", "data"):
        left, right = getattr(got.user_items, part), getattr(want.user_items, part)
        assert left.dtype == right.dtype
        np.testing.assert_array_equal(left, right)
    assert got.fingerprint == want.fingerprint
    pd.testing.assert_frame_equal(got.item_meta, want.item_meta)
    for name in ("events", "tag_weights", "tag_events"):
        left, right = getattr(got, name), getattr(want, name)
        assert (left is None) == (right is None), name
        if left is not None:
            pd.testing.assert_frame_equal(left, right)


def test_the_demo_loads_exactly_as_through_frames(demo_home: Path) -> None:
    from timbre.sources.demo import DEMO_DATASET

    with Store.open(Settings(home=demo_home)) as store:
        store.cache_dir = None  # from the store, both ways
        fast = load_data(store, DEMO_DATASET)
        assert fast.tag_weights is not None and fast.tag_events is not None
        assert len(fast.tag_weights) and len(fast.tag_events)  # the demo has tags, no times
        assert_same_data(fast, _frames_path(store, DEMO_DATASET))


@pytest.mark.parametrize("min_run", [loading.MIN_RUN, 2, 10**9])
def test_odd_keys_load_exactly_as_through_frames(
    store_url: str, min_run: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loading, "MIN_RUN", min_run)  # ranges, ranges and lists, lists only
    store = _odd_store(store_url)
    try:
        fast = load_data(store, "odd")
        assert_same_data(fast, _frames_path(store, "odd"))
        assert_same_data(load_data(store, "other"), _frames_path(store, "other"))
    finally:
        store.close()


def test_odd_keys_land_in_the_right_cells(store_url: str) -> None:
    """Against the rows written, not another load: each (user, item) cell holds the sum of
    that pair's weights over both imports and both events."""
    store = _odd_store(store_url)
    try:
        data = load_data(store, "odd")
    finally:
        store.close()
    half_u, half_i = len(ODD_USERS) // 2, len(ODD_ITEMS) // 2
    first, second = (
        _batch("odd", ODD_USERS[half_u:], ODD_ITEMS[half_i:], 1),
        _batch("odd", ODD_USERS, ODD_ITEMS, 3),
    )
    rows = pd.concat([first.interactions, second.interactions])
    # a row repeated with the same natural key (same user, item, event, time) is stored once
    stored = rows.drop_duplicates(["user_key", "item_key", "event", "timestamp"], keep="last")
    sums = stored.groupby(["user_key", "item_key"])["weight"].sum()
    assert list(data.users.ids) == sorted(stored["user_key"].unique())
    assert list(data.items.ids) == sorted(stored["item_key"].unique())
    dense = data.user_items.toarray()
    for (user, item), weight in sums.items():
        assert dense[data.users.index(user), data.items.index(item)] == pytest.approx(weight)
    assert dense.astype(bool).sum() == len(sums)
    meta = data.item_meta.set_index("key")
    assert meta.loc["i:Straße", "name"] == "Same Name" and meta.loc["i:É", "energy"] == 0.5
    assert sorted(meta.loc["i:Straße", "tags"]) == ["Rock", "rock"]


@pytest.mark.parametrize("high", [50, 10**12])  # a table of the ids present; a sort
def test_distinct_ids_are_numpys_unique(high: int) -> None:
    ids = np.random.default_rng(0).integers(0, high, 5000).astype(np.int64)
    distinct, position = loading.distinct_ids(ids)
    want, inverse = np.unique(ids, return_inverse=True)
    np.testing.assert_array_equal(distinct, want)
    np.testing.assert_array_equal(position, inverse)


@pytest.mark.parametrize("parse_bytes", [1, 10**9])  # every message parsed as it comes; at once
def test_the_copied_rows_parse_the_same_in_pieces_or_at_once(
    store_url: str, parse_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loading, "PG_PARSE_BYTES", parse_bytes)  # PostgreSQL's COPY path
    store = _odd_store(store_url)
    try:
        assert_same_data(load_data(store, "odd"), _frames_path(store, "odd"))
    finally:
        store.close()
