"""Issue 16, items 4 and 5: hostile names in exports and at import, and keys over their limits.

On SQLite and PostgreSQL alike: a refused import changes nothing (same content digest), and an
oversized id or name is dropped and counted the same way on both backends.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from timbre.errors import DataError
from timbre.export import csv_text, provenance, write_parquet
from timbre.records import ImportBatch, ImportReport
from timbre.sources.interactions_csv import read_interactions_csv
from timbre.store import Store

#: The documented limits (``timbre.records.MAX_CHARS``).
MAX_CHARS = {"data set name": 200, "user id": 300, "item id": 500}
INJECTION = "plays\n=cmd|' /C calc'!A0"
HOSTILE = [
    INJECTION,
    "a\rb",
    "nul\x00name",
    "rtl\u202eevil",
    "tab\tname",
    "x" * (MAX_CHARS["data set name"] + 1),
    "   ",
]


# --- item 4: names in exports ------------------------------------------------------------------
@pytest.mark.parametrize("name", HOSTILE[:5])
def test_a_hostile_data_set_name_never_starts_a_line_of_a_csv_export(name: str) -> None:
    frame = pd.DataFrame({"item": ["=HYPERLINK(1)", "ok"], f"score{name}": [1.0, 2.0]})
    comments = provenance(name, {"cf": 1.0}, "minmax", "tags", run={"id": 1, "model": name})
    text = csv_text(frame, comments=comments)
    lines = text.split("\n")
    assert lines[-1] == ""  # ends with a newline, and ...
    assert len(lines) == len(comments) + 1 + len(frame) + 1  # ... no name added a line
    assert all(line.startswith("# ") for line in lines[: len(comments)])
    assert not any(line.lstrip('"').startswith(("=", "+", "-", "@")) for line in lines)
    assert not any(ch in text for ch in "\r\x00\u202e\t")
    assert lines[len(comments)].startswith('"item","score')  # the header is one line too


def test_parquet_comments_and_sidecar_hold_the_same_safe_lines(tmp_path: Path) -> None:
    comments = provenance(INJECTION, {"cf": 1.0}, "minmax", "tags")
    target = write_parquet(pd.DataFrame({"a": [1]}), tmp_path / "recs.parquet", comments)
    made_with = json.loads(target.with_suffix(".json").read_text())["made_with"]
    assert made_with[1] == "data set: plays\\n=cmd|' /C calc'!A0"
    assert not any("\n" in line for line in made_with)


# --- item 4: names validated at import ----------------------------------------------------------
def _batch(dataset: str, item: str = "i1", user: str = "u1") -> ImportBatch:
    """One play of ``user`` with ``item`` in data set ``dataset``."""
    return ImportBatch(
        dataset=dataset,
        source="test",
        report=ImportReport(source="test", dataset=dataset, rows_read=1, accepted=1),
        users=pd.DataFrame({"key": [user], "name": [user]}),
        items=pd.DataFrame(
            {"key": [item], "kind": ["artist"], "name": [item], "artist": [None], "link_key": [""]}
        ),
        interactions=pd.DataFrame(
            {
                "user_key": [user],
                "item_key": [item],
                "event": ["play"],
                "weight": [1.0],
                "timestamp": [pd.NaT],
            }
        ),
    )


@pytest.mark.parametrize(
    "name", HOSTILE, ids=["newline", "cr", "nul", "rtl", "tab", "long", "blank"]
)
def test_an_import_with_a_hostile_data_set_name_is_refused_and_changes_nothing(
    store: Store, name: str
) -> None:
    store.write_batch(_batch("fine"))
    before = store.content_digest()
    with pytest.raises(DataError, match=r"data set name .*(unprintable|characters|blank|required)"):
        store.write_batch(_batch(name, item="i2"))
    assert store.content_digest() == before


def test_a_file_name_that_would_inject_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "evil\n=cmd|' calc'!A0.csv"
    path.write_text("user,item\nu1,i1\n")
    with pytest.raises(DataError, match=r"U\+000A.*file name; give one with --dataset NAME"):
        read_interactions_csv(path)
    assert read_interactions_csv(path, dataset="evil").dataset == "evil"


# --- item 5: ids and names over their documented limits -------------------------------------------
def test_oversized_ids_and_names_are_dropped_and_counted_alike_on_both_backends(
    store: Store,
) -> None:
    huge = "x" * 5_000_000
    batch = _batch("plays", item="i1")
    extra = _batch("plays", item=huge).interactions  # a 5 MB item id
    long_user = _batch("plays", user="u" * (MAX_CHARS["user id"] + 1)).interactions
    batch.interactions = pd.concat([batch.interactions, extra, long_user], ignore_index=True)
    batch.items = pd.concat(
        [batch.items, _batch("plays", item="i3").items.assign(name="n" * 501)], ignore_index=True
    )
    batch.report.rows_read = batch.report.accepted = 3
    report = store.write_batch(batch)
    assert report.dropped == {
        "item id longer than 500 characters": 1,
        "user id longer than 300 characters": 1,
    }
    assert report.accepted == 1
    counts = store.table_counts()
    assert (counts["interactions"], counts["items"], counts["users"]) == (1, 1, 1)
    inter, _ = store.load_dataset("plays")
    assert inter["item_key"].tolist() == ["i1"]


def test_a_batch_whose_only_row_is_oversized_is_refused_and_changes_nothing(store: Store) -> None:
    before = store.content_digest()
    with pytest.raises(DataError, match="item id longer than 500 characters"):
        store.write_batch(_batch("plays", item="y" * 5_000_000))
    assert store.content_digest() == before


def test_a_csv_with_one_5_mb_item_id_is_refused_on_both_backends(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "big.csv"
    path.write_text("user,item\nu1," + "z" * 5_000_000 + "\n")
    before = store.content_digest()
    with pytest.raises(DataError, match="item id longer than 500 characters"):
        store.write_batch(read_interactions_csv(path))
    assert store.content_digest() == before
