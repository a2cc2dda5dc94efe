"""Vocabulary, the one matrix builder, and InteractionData."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from timbre.errors import DataError, TimbreError
from timbre.interactions import InteractionData, Vocabulary, build_matrix


def test_vocabulary_round_trips_ids_and_indices() -> None:
    vocab = Vocabulary(["b", "a", "c"])
    assert [vocab.index(k) for k in ("b", "a", "c")] == [0, 1, 2]
    assert [vocab.id(i) for i in range(3)] == ["b", "a", "c"]
    assert "a" in vocab and "zz" not in vocab


def test_vocabulary_unknown_id_is_minus_one_or_a_clear_error() -> None:
    vocab = Vocabulary(["x"], name="artist")
    assert vocab.indices(["x", "nope"]).tolist() == [0, -1]
    with pytest.raises(TimbreError, match="unknown artist: 'nope'"):
        vocab.index("nope")
    for other in (0, None, ""):  # not an id of it: the same clear error, never a KeyError
        with pytest.raises(TimbreError, match="unknown artist"):
            vocab.index(other)  # type: ignore[arg-type]
    assert vocab.index(np.str_("x")) == 0
    with pytest.raises(TimbreError, match="out of range"):
        vocab.id(5)


def test_vocabulary_rejects_duplicates() -> None:
    with pytest.raises(DataError, match="duplicate user ids"):
        Vocabulary(["u1", "u2", "u1"], name="user")


def test_build_matrix_sums_duplicates_as_float32() -> None:
    m = build_matrix([0, 0, 1, 0], [1, 1, 0, 2], [1.0, 2.5, 4.0, 1.0], (2, 3))
    assert m.dtype == np.float32
    assert m.toarray().tolist() == [[0.0, 3.5, 1.0], [4.0, 0.0, 0.0]]
    assert m.has_sorted_indices


@pytest.mark.parametrize(
    ("rows", "cols", "weights", "message"),
    [
        ([0, 2], [0, 0], [1, 1], "outside the matrix shape"),
        ([0, -1], [0, 0], [1, 1], "outside the matrix shape"),
        ([0], [0], [float("nan")], "finite"),
        ([0, 1], [0], [1, 1], "same length"),
    ],
)
def test_build_matrix_rejects_bad_input(rows, cols, weights, message) -> None:
    with pytest.raises(DataError, match=message):
        build_matrix(rows, cols, weights, (2, 2))


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    interactions = pd.DataFrame(
        {
            "user_key": ["u1", "u1", "u2", "u3", "u1"],
            "item_key": ["a", "b", "a", "c", "a"],
            "weight": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    items = pd.DataFrame(
        {
            "key": ["a", "b", "c"],
            "name": ["A", "B", "C"],
            "kind": ["artist"] * 3,
            "artist": [None] * 3,
        }
    )
    return interactions, items


def test_from_frames_builds_sorted_vocabularies_and_metadata() -> None:
    data = InteractionData.from_frames(*_frames(), dataset="toy")
    assert data.users.ids.tolist() == ["u1", "u2", "u3"]
    assert data.items.ids.tolist() == ["a", "b", "c"]
    assert data.user_items.toarray().tolist() == [[6, 2, 0], [3, 0, 0], [0, 0, 4]]
    assert data.item_meta["name"].tolist() == ["A", "B", "C"]
    assert data.item_name(2) == "C"


def test_min_counts_filter_items_then_users() -> None:
    data = InteractionData.from_frames(*_frames(), dataset="toy", min_item_interactions=2)
    assert data.items.ids.tolist() == ["a"]
    assert data.users.ids.tolist() == ["u1", "u2"]
    with pytest.raises(DataError, match="no interactions left"):
        InteractionData.from_frames(*_frames(), dataset="toy", min_user_interactions=5)


def test_fingerprint_changes_with_data_and_is_stable() -> None:
    interactions, items = _frames()
    a = InteractionData.from_frames(interactions, items, "toy")
    b = InteractionData.from_frames(interactions.copy(), items, "toy")
    assert a.fingerprint == b.fingerprint
    changed = interactions.assign(weight=interactions["weight"] + 1)
    assert InteractionData.from_frames(changed, items, "toy").fingerprint != a.fingerprint


def test_track_display_name_includes_artist() -> None:
    interactions = pd.DataFrame({"user_key": ["u"], "item_key": ["t"], "weight": [1.0]})
    items = pd.DataFrame({"key": ["t"], "name": ["Song"], "kind": ["track"], "artist": ["Band"]})
    data = InteractionData.from_frames(interactions, items, "toy")
    assert data.item_name(0) == "Band - Song"


def test_timestamps_are_kept_as_events() -> None:
    interactions = pd.DataFrame(
        {
            "user_key": ["u", "u"],
            "item_key": ["a", "a"],
            "weight": [1.0, 1.0],
            "timestamp": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 10:00"], utc=True),
        }
    )
    data = InteractionData.from_frames(interactions, pd.DataFrame({"key": ["a"]}), "toy")
    assert data.events is not None and len(data.events) == 2
    assert data.user_items.toarray().tolist() == [[2.0]]


@pytest.mark.parametrize("query", ["", "   ", "?!", "💀🎸", "..."])
def test_a_query_that_normalises_to_nothing_is_an_unknown_item(query: str) -> None:
    """Issue 17: blank, emoji and punctuation-only queries matched an artist named "#####"
    (both normalise to an empty key)."""
    items = pd.DataFrame({"key": ["a:1", "a:2"], "name": ["#####", "Slayer"], "kind": "artist"})
    frame = pd.DataFrame({"user_key": ["u", "u"], "item_key": ["a:1", "a:2"], "weight": 1.0})
    data = InteractionData.from_frames(frame, items, "toy")
    with pytest.raises(TimbreError, match="unknown item"):
        data.find_item(query)
    assert data.find_item("#####") == 0  # typed exactly, the name still finds it
    assert data.find_item("slayer") == 1
