"""Forgetting a person (``Store.forget_user``, ``timbre forget``) on SQLite and PostgreSQL.

Whether a row names a person is decided here from the schema itself (every foreign key to
``users``) and from the row's text (the person's key anywhere in it), not from the code under
test, so a table the store forgets to clear fails these tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.cli_helpers import run_cli
from timbre.errors import DataError, StorageError, TimbreError
from timbre.records import ImportBatch, ImportReport, link_key
from timbre.store import TABLES, Base, Store
from timbre.store.sql import BOOKKEEPING
from timbre.store.users import DATASETS_LEFT_EMPTY, RUNS_TRAINED_WITH_USER, user_references

GONE, KEPT, THIRD = "u:forget-me", "u:keeper", "u:bystander"
#: The tables that name a person today; the fixture data puts rows of both people in each.
PERSONAL = (
    "users",
    "interactions",
    "user_item_tags",
    "user_friends",
    "fetch_logs",
    "personality_profiles",
    "saved_recommendations",
)
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"

Rows = dict[str, dict[str, dict[str, Any]]]


def _batch(dataset: str, plays: list[tuple[str, str]], **frames: pd.DataFrame) -> ImportBatch:
    names = sorted({item for _, item in plays} | {"a:three"})
    items = pd.DataFrame(
        {
            "key": names,
            "kind": "artist",
            "name": names,
            "artist": None,
            "link_key": [link_key("artist", n) for n in names],
        }
    )
    people = sorted({u for u, _ in plays} | {GONE, KEPT, THIRD})
    interactions = pd.DataFrame(
        {
            "user_key": [u for u, _ in plays],
            "item_key": [i for _, i in plays],
            "event": "play",
            "weight": 3.0,
            "timestamp": pd.Timestamp("2024-03-01 12:00", tz="UTC"),
        }
    )
    return ImportBatch(
        dataset,
        "csv",
        ImportReport("csv", dataset),
        items=items,
        users=pd.DataFrame({"key": people, "name": people}),
        interactions=interactions,
        **frames,
    )


def load_two_people(store: Store) -> None:
    """Listening, tags, friends, profiles, fetch logs, runs and saved lists for GONE and KEPT
    (and a bystander), each through the store's own writers."""
    store.add_model_run("als", {"factors": 8}, "toy", "f0")  # before anyone was stored
    user_tags = pd.DataFrame(
        {
            "user_key": [GONE, KEPT],
            "item_key": ["a:one", "a:two"],
            "tag": ["metal", "pop"],
            "timestamp": pd.Timestamp("2024-03-02", tz="UTC"),
        }
    )
    friends = pd.DataFrame(
        {"user_key": [GONE, KEPT, KEPT, THIRD], "friend_key": [KEPT, GONE, THIRD, GONE]}
    )
    plays = [
        (GONE, "a:one"),
        (GONE, "a:two"),
        (KEPT, "a:two"),
        (KEPT, "a:three"),
        (THIRD, "a:three"),
    ]
    store.write_batch(_batch("toy", plays, user_tags=user_tags, friends=friends))
    store.write_batch(_batch("solo", [(GONE, "a:one")]))
    for key, openness in ((GONE, 4.5), (KEPT, 2.0)):
        store.add_profile(key, "mini-ipip", {"q1": 5}, {"Openness": openness}, {"Openness": 90.0})
        store.add_fetch_log(user_key=key, source="lastfm", kinds="history", status="ok", rows=2)
    run = store.add_model_run("als", {"factors": 8}, "toy", "f1")
    store.add_model_run("ease", {}, "elsewhere", "f2")
    store.save_recommendations(
        run,
        [
            {"user_key": who, "rank": 1, "item_key": "a:three", "score": 0.9, "components": {}}
            for who in (GONE, KEPT)
        ],
    )


def snapshot(store: Store) -> Rows:
    """Every row of every table of the schema, by its text (column name -> value); columns that
    count writes (a data set's revision, which forgetting bumps) are left out."""
    with store.engine.connect() as conn:
        return {
            table.name: {
                repr(tuple(row)): dict(row._mapping)
                for row in conn.execute(
                    sa.select(
                        *[c for c in table.columns if (table.name, c.name) not in BOOKKEEPING]
                    )
                )
            }
            for table in TABLES
        }


def user_id(store: Store, key: str) -> int:
    with store.engine.connect() as conn:
        users = Base.metadata.tables["users"]
        return int(conn.execute(sa.select(users.c.id).where(users.c.key == key)).scalar_one())


def names(table: str, text: str, row: dict[str, Any], ident: int, key: str) -> bool:
    """Whether a row names the person: any foreign key to ``users`` holding their id (their
    ``users`` row itself) or their key anywhere in the row's text."""
    schema = Base.metadata.tables[table]
    by_id = [fk.parent.name for fk in schema.foreign_keys if fk.column.table.name == "users"]
    if table == "users":
        by_id.append("id")
    return any(row[c] == ident for c in by_id) or key in text


def naming(rows: Rows, ident: int, key: str) -> dict[str, set[str]]:
    return {
        table: {text for text, row in found.items() if names(table, text, row, ident, key)}
        for table, found in rows.items()
    }


def test_forgetting_a_person_leaves_no_row_naming_them_and_every_other_row(store: Store) -> None:
    load_two_people(store)
    gone_id, kept_id = user_id(store, GONE), user_id(store, KEPT)
    before = snapshot(store)
    theirs, others = naming(before, gone_id, GONE), naming(before, kept_id, KEPT)
    for table in PERSONAL:  # the data covers every personal table, for both people
        assert theirs[table] and others[table], table

    counts = store.forget_user(GONE)

    after = snapshot(store)
    assert not any(naming(after, gone_id, GONE).values())
    for table in before:
        assert after[table].keys() <= before[table].keys(), f"{table}: a row was added or changed"
        assert before[table].keys() - after[table].keys() == theirs[table], table
        assert others[table] - theirs[table] <= after[table].keys(), table
    assert {t: counts[t] for t in PERSONAL} == {t: len(theirs[t]) for t in PERSONAL}
    assert counts["user_friends"] == 3  # both directions of a friendship
    assert counts[DATASETS_LEFT_EMPTY] == 1  # "solo" is empty, and kept
    assert [d["name"] for d in store.list_datasets()] == ["toy", "solo"]
    assert counts[RUNS_TRAINED_WITH_USER] == 1  # not the run before them, nor on another set
    assert len(store.list_model_runs()) == 3
    interactions, _ = store.load_dataset("toy")
    assert sorted(set(interactions["user_key"])) == sorted([KEPT, THIRD])
    assert store.latest_profile(KEPT) is not None and store.latest_profile(GONE) is None


def test_an_unknown_person_is_a_clear_error_and_changes_nothing(store: Store) -> None:
    load_two_people(store)
    digest = store.content_digest()
    with pytest.raises(DataError, match="no user 'u:nobody'; ") as raised:
        store.forget_user("u:nobody")
    assert isinstance(raised.value, TimbreError)
    with pytest.raises(DataError, match="no user"):
        store.forget_user("forget-me")  # a last part is not a key for the store
    assert store.content_digest() == digest


def test_a_dry_run_counts_exactly_what_forgetting_deletes_and_changes_nothing(
    store: Store,
) -> None:
    load_two_people(store)
    digest = store.content_digest()
    would = store.forget_user(GONE, dry_run=True)
    assert store.content_digest() == digest
    assert would["interactions"] == 3 and would["users"] == 1
    assert store.forget_user(GONE) == would
    assert store.content_digest() != digest


def test_a_person_known_only_by_a_questionnaire_is_forgotten(store: Store) -> None:
    load_two_people(store)
    store.add_profile("me", "mini-ipip", {"q1": 1}, {"Openness": 1.0}, {"Openness": 5.0})
    counts = store.forget_user("me")
    assert counts["personality_profiles"] == 1 and counts["users"] == 0
    assert sum(counts[t] for t in PERSONAL) == 1
    assert [p["user_key"] for p in store.list_profiles()] == [KEPT, GONE]


def test_forgetting_is_one_transaction(store: Store) -> None:
    """A row outside the schema that blocks deleting the user (a restricting foreign key) makes
    the whole of it fail: the rows deleted before it come back."""
    load_two_people(store)
    with store.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE guard (user_id INTEGER NOT NULL REFERENCES users (id))"))
        conn.execute(sa.text("INSERT INTO guard VALUES (:id)"), {"id": user_id(store, GONE)})
    digest = store.content_digest()
    with pytest.raises(StorageError):
        store.forget_user(GONE)
    assert store.content_digest() == digest


def test_every_foreign_key_to_users_and_every_user_key_column_is_found() -> None:
    """A table added later is covered: each side of a foreign key and a text ``user_key``."""
    metadata = sa.MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    sa.Table(
        "feedback",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.ForeignKey("users.id")),
        sa.Column("by_key", sa.ForeignKey("users.key")),
    )
    sa.Table(
        "votes",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_key", sa.String),
    )
    found = {
        ref.table.name: {(c.name, target) for c, target in ref.columns}
        for ref in user_references(metadata)
    }
    assert found == {
        "interactions": {("user_id", "id")},
        "user_item_tags": {("user_id", "id")},
        "user_friends": {("user_id", "id"), ("friend_id", "id")},
        "fetch_logs": {("user_key", "key")},
        "personality_profiles": {("user_key", "key")},
        "saved_recommendations": {("user_key", "key")},
        "person_links": {("person_key", "key"), ("user_key", "key")},
        "feedback": {("user_id", "id"), ("by_key", "key")},
        "votes": {("user_key", "key")},
    }


# --- the command ------------------------------------------------------------------------------
def test_the_command_refuses_without_yes_then_forgets_a_person_by_name(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("--home", str(tmp_path), "--db", store_url)
    for sample, user in (("lastfm-presenter.csv", "rj"), ("my_spotify_data.zip", "me")):
        code, _, err = run_cli(capsys, *base, "import", str(SAMPLES / sample), "--user", user)
        assert code == 0, err
    with Store.open(store_url) as store:
        keys = list(store.list_users("")["key"])
        rj = next(k for k in keys if k.endswith(":rj"))
        other = next(k for k in keys if k != rj)
        store.add_profile(rj, "mini-ipip", {"q1": 3}, {"Openness": 3.0}, {"Openness": 50.0})
        digest = store.content_digest()
        plays = store.forget_user(rj, dry_run=True)["interactions"]
    assert plays > 0

    code, out, err = run_cli(capsys, *base, "forget", "--user", "rj")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "forget rj would delete" in err and f"{plays:,} interactions" in err
    assert "--yes" in err
    with Store.open(store_url) as store:
        assert store.content_digest() == digest

    code, out, err = run_cli(capsys, *base, "forget", "--user", "rj", "--yes", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["user"] == "rj" and payload["accounts"] == [rj]  # the person and account
    assert payload["deleted"]["interactions"] == plays
    assert payload["deleted"]["personality_profiles"] == 1 and payload["deleted"]["users"] == 1
    assert payload[DATASETS_LEFT_EMPTY] == 1 and payload[RUNS_TRAINED_WITH_USER] == 0
    with Store.open(store_url) as store:
        assert list(store.list_users("")["key"]) == [other]
        assert not store.list_profiles(rj)

    code, out, err = run_cli(capsys, *base, "forget", "--user", "rj", "--yes")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "no user 'rj'" in err and "Traceback" not in err


def test_the_command_prints_what_it_deleted(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(sqlite_url) as store:
        load_two_people(store)
    code, out, err = run_cli(
        capsys, "--home", str(tmp_path), "--db", sqlite_url, "forget", "--user", GONE, "--yes"
    )
    assert code == 0, err
    assert out.startswith(f"forgot {GONE}: deleted ") and out.count("\n") == 1
    assert "3 interactions" in out and "3 user_friends" in out and "1 users" in out
    assert "kept 1 data set(s) left without interactions and 1 model run(s)" in out


def test_a_person_is_forgotten_with_every_account_and_an_ambiguous_name_is_refused(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("--home", str(tmp_path), "--db", sqlite_url)
    with Store.open(sqlite_url) as store:
        store.write_batch(_batch("toy", [("lastfm:sam", "a:one"), ("spotify:user:sam", "a:one")]))
        store.write_batch(_batch("toy", [("csv:kim", "a:one"), ("hetrec:user:kim", "a:one")]))
        store.link_account("sam", "csv:kim")
    code, out, err = run_cli(capsys, *base, "forget", "--user", "hetrec:user:kim", "--yes")
    assert code == 0, err
    code, out, err = run_cli(capsys, *base, "forget", "--user", "sam", "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["accounts"] == ["lastfm:sam", "spotify:user:sam", "csv:kim"]
    with Store.open(sqlite_url) as store:
        left = set(store.list_users("")["key"])
        gone = {"lastfm:sam", "spotify:user:sam", "csv:kim", "hetrec:user:kim"}
        assert not left & gone and left  # the bystanders stay
        assert store.linked_accounts("sam") == []

    sqlite_url2 = sqlite_url.replace(".db", "-2.db")
    with Store.open(sqlite_url2) as store:
        store.write_batch(_batch("toy", [("csv:kim", "a:one"), ("hetrec:user:kim", "a:one")]))
        digest = store.content_digest()
    code, out, err = run_cli(capsys, *base[:2], "--db", sqlite_url2, "forget", "--user", "kim")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "'kim' could be any of csv:kim, hetrec:user:kim" in err
    with Store.open(sqlite_url2) as store:
        assert store.content_digest() == digest
