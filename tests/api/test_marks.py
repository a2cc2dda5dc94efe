"""What the API's cache and engine key on: a person's interaction marks and the serving marks
change with every write that changes a list, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.test_store import listening_batch
from timbre.services.keys import create_key, find_key, revoke_key
from timbre.store import Store


def test_interaction_marks_change_with_every_write_of_the_person(store: Store) -> None:
    assert store.interaction_marks(["u:1"]) == (0, 0, 0.0, 0, 0, 0)
    store.write_batch(listening_batch())
    plays = store.interaction_marks(["u:1"])
    assert plays[0] == 2 and plays[2] == 7.0
    assert store.interaction_marks(["u:2"]) != plays
    store.write_batch(listening_batch((5.0, 3.0, 1.0)))  # a re-fetch that changes a weight
    changed = store.interaction_marks(["u:1"])
    assert changed != plays and changed[0] == 2
    store.add_feedback("u:1", ["a:unknown"], "block", 1_000)
    blocked = store.interaction_marks(["u:1"])
    store.remove_feedback("u:1", ["a:unknown"], "block")
    assert store.interaction_marks(["u:1"]) == changed
    store.add_feedback("u:1", ["a:beyonce"], "skip", 1_000)  # may reuse the removed row's id
    skipped = store.interaction_marks(["u:1"])
    assert skipped not in (changed, blocked)
    store.add_profile("u:1", "mini-ipip", {}, {}, {})
    assert store.interaction_marks(["u:1"])[5] > 0


def test_serving_marks_follow_the_active_run_and_profiles(store: Store) -> None:
    assert store.serving_marks("toy") == (None, None, 0, 0)
    first = store.add_model_run("als", {}, "toy", "f", artifact_path="/a.npz")
    store.add_model_run("als", {}, "toy", "f")  # an evaluation run (no artifact) never serves
    assert store.serving_marks("toy") == (None, first, 0, 0)
    second = store.add_model_run("ease", {}, "toy", "f", artifact_path="/b.npz")
    store.set_active_run(first)
    assert store.serving_marks("toy") == (first, second, 0, 0)
    assert store.serving_marks("other") == (None, None, 0, 0)
    profile = store.add_profile("me", "mini-ipip", {}, {}, {})
    assert store.serving_marks("toy") == (first, second, 1, profile)


def test_keys_are_found_by_token_and_revoked(store: Store) -> None:
    key_id, token = create_key(store, "lab", admin=True, rate_limit=7)
    found = find_key(store, token)
    assert found is not None and (found.id, found.admin, found.rate_limit) == (key_id, True, 7)
    assert not found.revoked and find_key(store, token + "x") is None
    assert revoke_key(store, key_id) and not revoke_key(store, key_id)
    again = find_key(store, token)
    assert again is not None and again.revoked
