"""``Store.reading``: the reads of a block share one connection (the API's answer reads five
times); writes inside still commit in their own transaction; nothing leaks past the block."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from tests.test_store import listening_batch
from timbre.store import Store


def _checkouts(store: Store) -> list[int]:
    seen: list[int] = []

    def count(*_: Any) -> None:
        seen.append(1)

    event.listen(store.engine, "checkout", count)
    return seen


def test_reads_in_a_block_share_one_connection_and_writes_still_commit(store: Store) -> None:
    store.write_batch(listening_batch())
    checkouts = _checkouts(store)
    with store.reading():
        marks = store.interaction_marks(["u:1"])
        assert store.person_of("u:1") is None and store.existing_user_keys(["u:1"]) == ["u:1"]
        with store.reading():  # a block within a block: the same connection
            assert store.interaction_marks(["u:1"]) == marks
    assert len(checkouts) == 1
    with store.reading():
        store.link_account("me", "u:1")  # a write: its own transaction, committed
    assert store.person_of("u:1") == "me"
    checkouts.clear()
    store.person_of("u:1")
    store.person_of("u:2")
    assert len(checkouts) == 2  # after the block, each read has its own connection again


def test_a_failure_in_a_block_propagates_and_releases_its_connection(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.reading():
        store.person_of("u:1")
        raise RuntimeError("boom")
    assert store.engine.pool.checkedout() == 0
    assert store.person_of("u:1") is None
