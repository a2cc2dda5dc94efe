"""Data statistics kept per data set by revision (issue 17, "Data statistics are not recomputed
from scratch after every import"): only a data set written since is counted again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_store import catalog_batch, listening_batch
from timbre.config import Settings
from timbre.records import ImportBatch
from timbre.store import Store, datasets


def _into(batch: ImportBatch, name: str) -> ImportBatch:
    """``batch`` as data set ``name``'s, with users and items of its own (a write to shared
    items would reach the other data set too)."""
    batch.dataset = batch.report.dataset = name
    own = f"{name}/"
    for frame, columns in (
        (batch.items, ["key"]),
        (batch.users, ["key"]),
        (batch.interactions, ["user_key", "item_key"]),
        (batch.tags, ["item_key"]),
        (batch.friends, ["user_key", "friend_key"]),
    ):
        for column in columns:
            frame[column] = own + frame[column]
    return batch


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The data set ids whose figures were counted from the database."""
    seen: list[int] = []
    real = datasets._one_dataset_stats

    def spy(conn: Any, ident: int) -> dict[str, Any]:
        seen.append(ident)
        return real(conn, ident)

    monkeypatch.setattr(datasets, "_one_dataset_stats", spy)
    return seen


def test_only_the_written_data_set_is_counted_again(tmp_path: Path, counted: list[int]) -> None:
    with Store.open(Settings(home=tmp_path / "home")) as store:
        store.write_batch(_into(listening_batch(), "first"))
        store.write_batch(_into(listening_batch(), "second"))
        first = store.stats()
        assert len(counted) == 2
        assert store.stats() == first and len(counted) == 2  # both from the cache
        store.write_batch(_into(listening_batch((9.0, 9.0, 9.0)), "second"))
        store.stats()
        assert len(counted) == 3  # "second" only
        store.write_batch(catalog_batch())  # the catalogue reaches every data set's matches
        after = store.stats()
        assert len(counted) == 5
    with Store.open(Settings(home=tmp_path / "other")) as fresh:
        fresh.write_batch(_into(listening_batch(), "first"))
        fresh.write_batch(_into(listening_batch(), "second"))
        fresh.write_batch(_into(listening_batch((9.0, 9.0, 9.0)), "second"))
        fresh.write_batch(catalog_batch())
        assert fresh.stats() == after  # what counting afresh gives


def test_a_damaged_cache_file_is_counted_again(tmp_path: Path, counted: list[int]) -> None:
    with Store.open(Settings(home=tmp_path / "home")) as store:
        store.write_batch(listening_batch())
        expected = store.stats()
        assert store.cache_dir is not None
        for path in (store.cache_dir / "stats").glob("*.json"):
            path.write_text("{not json", encoding="utf-8")
        assert store.stats() == expected
        assert len(counted) == 2


def test_a_deleted_and_recreated_data_set_is_not_served_old_figures(tmp_path: Path) -> None:
    with Store.open(Settings(home=tmp_path / "home")) as store:
        store.write_batch(_into(listening_batch(), "toy"))
        assert store.stats()["datasets"]["toy"]["users"] == 2
        store.delete_dataset("toy")
        assert "toy" not in store.stats()["datasets"]
        batch = _into(listening_batch(), "toy")
        batch.interactions = batch.interactions.iloc[:1]
        store.write_batch(batch)
        assert store.stats()["datasets"]["toy"]["interactions"] == 1
