"""Schema versioning: older databases are upgraded in place; newer or foreign ones refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from timbre.errors import StorageError
from timbre.store import Base, Store, _alembic_config, head_revision


def _upgrade_to(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)
    engine.dispose()


def _old_database(url: str, revision: str, *statements: str) -> None:
    """Bring an empty database up to ``revision`` by hand and run ``statements`` in it."""
    _upgrade_to(url, revision)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database to migrate by hand, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_an_older_database_is_upgraded_in_place_keeping_its_data(old_url: str) -> None:
    _old_database(
        old_url,
        "0001",
        "INSERT INTO users (key, name, created_at) VALUES ('lastfm:rj', 'RJ', CURRENT_TIMESTAMP)",
    )
    engine = sa.create_engine(old_url)
    with engine.connect() as conn:
        assert "model_runs" not in sa.inspect(conn).get_table_names()
    engine.dispose()
    with Store.open(old_url) as store:
        assert store.schema_revision() == head_revision() == "0008"
        assert store.table_counts()["users"] == 1
        assert store.table_counts()["model_runs"] == 0


def test_0004_keeps_interactions_and_allows_feedback_events(old_url: str) -> None:
    url = old_url
    _upgrade_to(url, "0003")
    insert = (
        "INSERT INTO interactions (dataset_id, user_id, item_id, event, weight, ts, source) "
        "VALUES (1, 1, 1, '{event}', 3.0, {ts}, 'test')"
    )
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO datasets (name, source, created_at) VALUES "
                             "('d', 'test', CURRENT_TIMESTAMP)"))  # fmt: skip
        conn.execute(sa.text("INSERT INTO users (key, name, created_at) VALUES "
                             "('me', 'me', CURRENT_TIMESTAMP)"))  # fmt: skip
        conn.execute(sa.text("INSERT INTO items (key, kind, name, source, link_key) VALUES "
                             "('a:1', 'artist', 'A', 'test', '')"))  # fmt: skip
        conn.execute(sa.text(insert.format(event="play", ts=1)))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text(insert.format(event="like", ts=2)))  # 0003 refuses it
    engine.dispose()
    with Store.open(url) as store, store.engine.begin() as conn:
        conn.execute(sa.text(insert.format(event="like", ts=2)))
        conn.execute(sa.text(insert.format(event="block", ts=3)))
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
            conn.execute(sa.text(insert.format(event="hate", ts=4)))
        rows = conn.execute(sa.text("SELECT event, weight FROM interactions ORDER BY ts")).all()
    assert [tuple(r) for r in rows] == [("play", 3.0), ("like", 3.0), ("block", 3.0)]


def test_the_migrated_schema_matches_the_models(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store, store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_a_newer_database_is_refused_and_left_alone(sqlite_url: str) -> None:
    Store.open(sqlite_url).close()
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(
        StorageError,
        match=rf"revision 0099, newer than this Timbre \(knows up to {head_revision()}\)",
    ):
        Store.open(sqlite_url)
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0099"
    engine.dispose()


def test_a_foreign_database_is_refused_not_recreated(sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)"))
        conn.execute(sa.text("INSERT INTO invoices (total) VALUES (9.5)"))
    engine.dispose()
    with pytest.raises(StorageError, match="no Timbre schema version"):
        Store.open(sqlite_url)
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == ["invoices"]
    engine.dispose()


def test_a_file_that_is_not_a_database_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("just some notes, not SQLite " * 50)
    with pytest.raises(StorageError, match="cannot open database"):
        Store.open(f"sqlite:///{path}")
    assert path.read_text().startswith("just some notes")


def test_0005_gives_existing_data_sets_revision_zero(old_url: str) -> None:
    _old_database(
        old_url,
        "0004",
        "INSERT INTO datasets (name, source, created_at) VALUES ('old', 'csv', CURRENT_TIMESTAMP)",
    )
    with Store.open(old_url) as store:
        token = store.dataset_revision("old")
        assert token is not None and token[2] == 0


def test_0008_keeps_added_and_fetched_users_tracked(old_url: str) -> None:
    """A Last.fm CSV export's name is left untracked; added and fetched users stay tracked."""
    now = "CURRENT_TIMESTAMP"
    _old_database(
        old_url,
        "0007",
        f"INSERT INTO users (id, key, name, created_at) VALUES (1, 'lastfm:added', 'a', {now}),"
        f" (2, 'lastfm:fetched', 'f', {now}), (3, 'lastfm:fromcsv', 'c', {now}),"
        f" (4, 'spotify:user:me', 'me', {now}), (5, 'spotify:user:export', 'e', {now})",
        f"INSERT INTO datasets (id, name, source, created_at) VALUES (1, 'lastfm-export',"
        f" 'lastfm-export', {now}), (2, 'lastfm', 'lastfm', {now})",
        "INSERT INTO items (id, key, kind, name, source, link_key, in_catalog, catalog_match)"
        " VALUES (1, 't:1', 'track', 'One', 'lastfm', '', false, false)",
        "INSERT INTO interactions (dataset_id, user_id, item_id, event, weight, ts, source)"
        " VALUES (2, 2, 1, 'play', 1, 0, 'lastfm'), (1, 3, 1, 'play', 1, 0, 'lastfm-export'),"
        " (1, 5, 1, 'play', 1, 0, 'spotify-export')",
        f"INSERT INTO fetch_logs (user_key, source, kinds, started_at, status, rows) VALUES"
        f" ('spotify:user:me', 'spotify', 'plays', {now}, 'ok', 0)",
    )
    with Store.open(old_url) as store:
        users = store.list_users("").set_index("key")["tracked"].to_dict()
        assert store.table_counts()["interactions"] == 3  # nothing cascaded away
    assert users == {
        "lastfm:added": True,
        "lastfm:fetched": True,
        "lastfm:fromcsv": False,
        "spotify:user:export": False,
        "spotify:user:me": True,
    }
    engine = sa.create_engine(old_url)
    with engine.connect() as conn:
        assert "tracked" in {c["name"] for c in sa.inspect(conn).get_columns("users")}
    engine.dispose()


def test_the_newest_script_by_file_name_is_alembics_head() -> None:
    from timbre.store.schema import newest_script

    assert newest_script() == head_revision()
