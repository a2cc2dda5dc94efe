"""The matrix cache: a data set loads from disk while its revision is current, and every write
to its rows (an import, feedback, forgetting a person, new tags on its items) makes the next
load read the store again."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.test_store import catalog_batch, listening_batch
from timbre import matrix_cache
from timbre.records import ImportBatch, ImportReport
from timbre.services.data import load_data
from timbre.store import Store, loading


@pytest.fixture
def cached(store_url: str, tmp_path: Path) -> Store:
    """A store with a cache folder (as ``Store.open(settings)`` gives) holding the toy set."""
    store = Store.open(store_url)
    store.cache_dir = tmp_path / "cache"
    store.write_batch(listening_batch())
    return store


def _loaded_from_disk(store: Store, name: str = "toy") -> bool:
    """Whether ``load_data`` answers without reading the dataset's rows from the store."""
    calls: list[str] = []
    original = store.load_columns

    def counting(dataset: str) -> loading.DatasetColumns:
        calls.append(dataset)
        return original(dataset)

    store.load_columns = counting  # type: ignore[method-assign]
    try:
        load_data(store, name)
    finally:
        del store.load_columns
    return not calls


def test_second_load_reads_the_cache_and_equals_the_store(cached: Store) -> None:
    fresh = load_data(cached, "toy")
    assert _loaded_from_disk(cached)
    again = load_data(cached, "toy")
    assert again.fingerprint == fresh.fingerprint
    pd.testing.assert_frame_equal(again.item_meta, fresh.item_meta)
    for name in matrix_cache.FRAMES:
        left, right = getattr(again, name), getattr(fresh, name)
        assert (left is None) == (right is None)
        if left is not None:
            pd.testing.assert_frame_equal(left, right)
    assert isinstance(again.item_meta["tags"].iloc[0], list)


def test_an_import_into_the_data_set_is_seen_at_once(cached: Store) -> None:
    before = load_data(cached, "toy")
    cached.write_batch(listening_batch(weights=(9.0, 2.0, 1.0)))  # a changed weight
    assert not _loaded_from_disk(cached)
    after = load_data(cached, "toy")
    assert after.user_items.sum() == before.user_items.sum() + 4.0
    assert len(list((cached.cache_dir or Path()).glob("matrix/*"))) == 1  # the old one is gone


def test_new_tags_on_its_items_are_seen_even_from_another_data_set(cached: Store) -> None:
    load_data(cached, "toy")
    tags = pd.DataFrame({"item_key": ["a:beyonce"], "kind": "tag", "tag": ["rnb"], "weight": 1.0})
    cached.write_batch(ImportBatch("elsewhere", "csv", ImportReport("csv", "elsewhere"), tags=tags))
    data = load_data(cached, "toy")
    assert "rnb" in data.item_meta.set_index("key").loc["a:beyonce", "tags"]


def test_the_catalogue_reaches_every_data_set(cached: Store) -> None:
    load_data(cached, "toy")
    cached.write_batch(catalog_batch())
    assert not _loaded_from_disk(cached)
    meta = load_data(cached, "toy").item_meta.set_index("key")
    assert bool(meta.loc["a:bjork", "catalog_match"])


def test_another_data_set_of_new_items_leaves_the_cache_valid(cached: Store) -> None:
    load_data(cached, "toy")
    other = listening_batch()
    other = ImportBatch(
        "other",
        "csv",
        ImportReport("csv", "other"),
        items=other.items.assign(key=other.items["key"] + ":x"),
        users=other.users,
        interactions=other.interactions.assign(item_key=other.interactions["item_key"] + ":x"),
    )
    cached.write_batch(other)
    assert _loaded_from_disk(cached)


def test_feedback_and_its_undo_bump_the_feedback_set(cached: Store) -> None:
    cached.add_feedback("me", ["a:bjork"], "like", int(time.time() * 1000))
    first = load_data(cached, "feedback")
    assert first.nnz == 1 and _loaded_from_disk(cached, "feedback")
    cached.add_feedback("me", ["a:beyonce"], "skip", int(time.time() * 1000))
    assert load_data(cached, "feedback").nnz == 2
    cached.remove_feedback("me", ["a:bjork"], "like")
    assert load_data(cached, "feedback").nnz == 1


def test_forgetting_a_person_is_seen_at_once(cached: Store) -> None:
    assert load_data(cached, "toy").n_users == 2
    cached.forget_users(["u:2"])
    assert load_data(cached, "toy").n_users == 1


def test_a_re_created_data_set_of_the_same_name_never_reads_the_old_folder(
    cached: Store,
) -> None:
    load_data(cached, "toy")
    cached.delete_dataset("toy")
    smaller = listening_batch()
    smaller.interactions = smaller.interactions.iloc[:1]
    cached.write_batch(smaller)
    assert load_data(cached, "toy").nnz == 1


@pytest.mark.parametrize("damage", ["truncate", "pickle"])
def test_an_unreadable_cache_is_a_miss_not_an_error(cached: Store, damage: str) -> None:
    fresh = load_data(cached, "toy")
    (npz,) = (cached.cache_dir or Path()).glob("matrix/*/matrix.npz")
    if damage == "truncate":
        npz.write_bytes(npz.read_bytes()[:40])
    else:  # an object array needs unpickling: refused by allow_pickle=False
        np.savez(npz, data=np.array([object()], dtype=object), allow_pickle=True)
    again = load_data(cached, "toy")
    assert again.fingerprint == fresh.fingerprint


def test_the_svd_space_is_kept_next_to_the_matrix(demo_home: Path, tmp_path: Path) -> None:
    from timbre import spaces
    from timbre.config import load_settings

    store = Store.open(load_settings(home=demo_home))
    store.cache_dir = tmp_path / "cache"
    try:
        first = spaces.build_space(load_data(store, "hetrec-lastfm-2k"), "items", "svd")
        assert list((tmp_path / "cache").glob("matrix/*/svd*-items-*.npz"))
        second = spaces.build_space(load_data(store, "hetrec-lastfm-2k"), "items", "svd")
    finally:
        store.close()
    np.testing.assert_array_equal(first.vectors, second.vectors)


def test_a_folder_of_the_previous_format_is_never_read(
    cached: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Format 3 kept the users as a Feather frame, not in ``matrix.npz``: a folder of it is
    another name (never asked for), replaced by the next save; a format-4 name holding
    format-3 files is unreadable: a miss, rebuilt from the store."""
    fresh = load_data(cached, "toy")
    (folder,) = (cached.cache_dir or Path()).glob("matrix/*")
    monkeypatch.setattr(matrix_cache, "FORMAT", 3)
    assert not _loaded_from_disk(cached)  # another name: the store again, cached anew
    assert len(list((cached.cache_dir or Path()).glob("matrix/*"))) == 1  # the other removed
    monkeypatch.setattr(matrix_cache, "FORMAT", 4)
    assert not _loaded_from_disk(cached)
    (folder,) = (cached.cache_dir or Path()).glob("matrix/*")
    with np.load(folder / "matrix.npz") as arrays:  # format 3: the CSR alone, users apart
        np.savez(
            folder / "matrix.npz", **{k: arrays[k] for k in ("data", "indices", "indptr", "shape")}
        )
    pd.DataFrame({"id": fresh.users.ids}).to_feather(folder / "users.feather")
    assert matrix_cache.load(folder, "toy") is None
    assert load_data(cached, "toy").fingerprint == fresh.fingerprint


def test_the_deferred_parts_read_as_the_store_gave_them_even_once_the_folder_is_gone(
    cached: Store,
) -> None:
    """The cache decodes the ids and makes the frames on first use; their bytes were read (or
    mapped) at load, so a newer revision removing the folder meanwhile changes nothing."""
    fresh = load_data(cached, "toy")
    again = load_data(cached, "toy")
    assert again.extra[matrix_cache.FOLDER_KEY]  # from the cache
    assert len(again.users) == fresh.n_users and again.users._load is not None  # not decoded
    folder = again.extra[matrix_cache.FOLDER_KEY]
    assert isinstance(folder, Path)
    shutil.rmtree(folder)
    np.testing.assert_array_equal(again.users.ids, fresh.users.ids)
    assert again.items.index(str(fresh.items.ids[1])) == 1
    pd.testing.assert_frame_equal(again.item_meta, fresh.item_meta)
    assert again.tag_weights is not None and fresh.tag_weights is not None
    pd.testing.assert_frame_equal(again.tag_weights, fresh.tag_weights)
    assert again.fingerprint == fresh.fingerprint
