"""The store's schema: ORM tables, their constants and the Alembic migrations that build them."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from timbre.errors import StorageError
from timbre.records import AUDIO_FEATURES

log = logging.getLogger(__name__)

#: The Alembic scripts (package data next to this package: ``timbre/migrations``).
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
#: ``interactions.ts`` for rows without a timestamp (aggregated counts): NULLs are distinct in
#: SQL unique indexes, so "no time" is a real value to keep the natural key upsertable.
NO_TIMESTAMP = -1
EVENTS = ("play", "top", "love", "skip", "like", "block")
#: Events that are a person's reaction to a list, not listening.
FEEDBACK_EVENTS = ("like", "skip", "block")
KINDS = ("track", "artist", "album")
FEATURE_COLUMNS = (*AUDIO_FEATURES, "popularity")


class Base(DeclarativeBase):
    """Declarative base of the store's tables (the migrations in ``timbre/migrations``
    create exactly these; a test compares them)."""


class Dataset(Base):
    """A named collection of interactions (what models train on)."""

    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Bumped by every write to the data set's rows (its interactions, its items' metadata,
    #: tags and features): the matrix cache's key.
    revision: Mapped[int] = mapped_column(BigInteger, server_default="0")


class User(Base):
    """A listener, by external key (``lastfm:rj``, ``spotify:user:...``)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Fetched from a live source, or added to be (a name read from a file is not).
    tracked: Mapped[bool] = mapped_column(Boolean, server_default=sa.false())


class Item(Base):
    """A track, artist or album, by external key, with its catalogue link."""

    __tablename__ = "items"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('track', 'artist', 'album')", name="ck_items_kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(500), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(500))
    artist: Mapped[str | None] = mapped_column(String(500), nullable=True)
    source: Mapped[str] = mapped_column(String(50))
    link_key: Mapped[str] = mapped_column(String(1000), index=True, server_default="")
    in_catalog: Mapped[bool] = mapped_column(Boolean, server_default=sa.false())
    catalog_artist_key: Mapped[str | None] = mapped_column(String(500), index=True, nullable=True)
    catalog_match: Mapped[bool] = mapped_column(Boolean, server_default=sa.false())


class Interaction(Base):
    """One event of a user with an item in a data set (natural key: data set, user, item,
    event, timestamp)."""

    __tablename__ = "interactions"
    __table_args__ = (
        UniqueConstraint(
            "dataset_id", "user_id", "item_id", "event", "ts", name="uq_interactions_natural"
        ),
        sa.CheckConstraint(
            "event IN ('play', 'top', 'love', 'skip', 'like', 'block')",
            name="ck_interactions_event",
        ),
        sa.Index("ix_interactions_item", "item_id"),
        sa.Index("ix_interactions_user", "user_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(10))
    weight: Mapped[float] = mapped_column(Float)
    ts: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(50))


class ItemTag(Base):
    """A weighted tag or genre of an item."""

    __tablename__ = "item_tags"
    __table_args__ = (UniqueConstraint("item_id", "kind", "tag", name="uq_item_tags"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    tag: Mapped[str] = mapped_column(String(300))
    weight: Mapped[float] = mapped_column(Float)


class UserItemTag(Base):
    """One user's tag on one item, with its time (``NO_TIMESTAMP`` when unknown)."""

    __tablename__ = "user_item_tags"
    __table_args__ = (
        UniqueConstraint("user_id", "item_id", "tag", name="uq_user_item_tags"),
        sa.Index("ix_user_item_tags_item", "item_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(300))
    ts: Mapped[int] = mapped_column(BigInteger)


class ItemFeatures(Base):
    """An item's audio features and popularity (one row per item)."""

    __tablename__ = "item_features"
    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    danceability: Mapped[float | None] = mapped_column(Float, nullable=True)
    energy: Mapped[float | None] = mapped_column(Float, nullable=True)
    musical_key: Mapped[float | None] = mapped_column(Float, nullable=True)
    loudness: Mapped[float | None] = mapped_column(Float, nullable=True)
    mode: Mapped[float | None] = mapped_column(Float, nullable=True)
    speechiness: Mapped[float | None] = mapped_column(Float, nullable=True)
    acousticness: Mapped[float | None] = mapped_column(Float, nullable=True)
    instrumentalness: Mapped[float | None] = mapped_column(Float, nullable=True)
    liveness: Mapped[float | None] = mapped_column(Float, nullable=True)
    valence: Mapped[float | None] = mapped_column(Float, nullable=True)
    tempo: Mapped[float | None] = mapped_column(Float, nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    popularity: Mapped[float | None] = mapped_column(Float, nullable=True)


class UserFriend(Base):
    """A directed friendship between two users."""

    __tablename__ = "user_friends"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    friend_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class FetchLog(Base):
    """One fetch from a live source: who, what, when, how it ended.

    ``status`` is ``running`` from the fetch's start until it ends as ``ok``, ``partial`` or
    ``failed``; a ``running`` row whose process is gone is ``interrupted`` (see
    ``timbre.store.registry``).
    """

    __tablename__ = "fetch_logs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_key: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(50))
    kinds: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    rows: Mapped[int] = mapped_column(Integer, server_default="0")
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Who writes the row while it is ``running`` (to tell a live fetch from a killed one).
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: The last sign of life of a ``running`` fetch (set when it starts and after each kind).
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PersonalityProfile(Base):
    """One questionnaire taken by a user: answers, scores, percentiles."""

    __tablename__ = "personality_profiles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_key: Mapped[str] = mapped_column(String(300), index=True)
    instrument: Mapped[str] = mapped_column(String(50))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    percentiles: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ModelRun(Base):
    """One training run: model, parameters, data fingerprint, metrics, artifact."""

    __tablename__ = "model_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(50))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    dataset: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    artifact_path: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    #: SHA-256 of the artifact (``.npz``) as written; checked when the run is loaded.
    checksum: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SavedRecommendation(Base):
    """One ranked recommendation of a run for a user, with per-component scores."""

    __tablename__ = "saved_recommendations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("model_runs.id", ondelete="CASCADE"), index=True)
    user_key: Mapped[str] = mapped_column(String(300))
    rank: Mapped[int] = mapped_column(Integer)
    item_key: Mapped[str] = mapped_column(String(500))
    score: Mapped[float] = mapped_column(Float)
    components: Mapped[dict[str, Any]] = mapped_column(JSON)


class PersonLink(Base):
    """An account (a user key) linked to the person who owns it (``lastfm:rj`` -> ``me``)."""

    __tablename__ = "person_links"
    __table_args__ = (
        UniqueConstraint("user_key", name="uq_person_links_user"),
        sa.Index("ix_person_links_person", "person_key"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_key: Mapped[str] = mapped_column(String(300))
    user_key: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StoreWriter(Base):
    """A long write in progress (an import, a deletion): what it does and which process does it.

    Written in its own short transaction before the long one starts and deleted after it ends,
    so that a process that finds the database busy can say who is writing and what.
    """

    __tablename__ = "store_writers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operation: Mapped[str] = mapped_column(String(300))
    pid: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    """A key of the JSON API: only the SHA-256 of the token is kept (the token is shown once)."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: SHA-256 (hex) of the token; the token itself is never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The token's first characters, so a person can tell their keys apart in a list.
    prefix: Mapped[str] = mapped_column(String(16))
    admin: Mapped[bool] = mapped_column(Boolean, server_default=sa.false())
    #: Requests per minute this key may make.
    rate_limit: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


TABLES: tuple[sa.Table, ...] = tuple(Base.metadata.sorted_tables)
T_DATASETS: sa.Table = Base.metadata.tables["datasets"]
T_USERS: sa.Table = Base.metadata.tables["users"]
T_ITEMS: sa.Table = Base.metadata.tables["items"]
T_INTERACTIONS: sa.Table = Base.metadata.tables["interactions"]
T_ITEM_TAGS: sa.Table = Base.metadata.tables["item_tags"]
T_USER_ITEM_TAGS: sa.Table = Base.metadata.tables["user_item_tags"]
T_ITEM_FEATURES: sa.Table = Base.metadata.tables["item_features"]
T_USER_FRIENDS: sa.Table = Base.metadata.tables["user_friends"]
T_FETCH_LOGS: sa.Table = Base.metadata.tables["fetch_logs"]
T_PERSONALITY_PROFILES: sa.Table = Base.metadata.tables["personality_profiles"]
T_MODEL_RUNS: sa.Table = Base.metadata.tables["model_runs"]
T_SAVED_RECOMMENDATIONS: sa.Table = Base.metadata.tables["saved_recommendations"]
T_PERSON_LINKS: sa.Table = Base.metadata.tables["person_links"]
T_STORE_WRITERS: sa.Table = Base.metadata.tables["store_writers"]
T_API_KEYS: sa.Table = Base.metadata.tables["api_keys"]


def _alembic_config(connection: Connection | None = None) -> Any:
    """The Alembic configuration of Timbre's migrations.

    Parameters
    ----------
    connection
        The connection the migrations run on (``timbre/migrations/env.py`` takes it from the
        configuration's attributes); ``None`` to only read the scripts.

    Returns
    -------
    alembic.config.Config
        A configuration without an ini file, pointing at ``MIGRATIONS_DIR``.
    """
    from alembic.config import Config as AlembicConfig  # Alembic only loads to check or migrate

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this code knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The schema revision of the database behind ``conn`` (``None``: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def newest_script() -> str:
    """The revision of the newest migration script, from the file names (``0005_...py``; a
    test checks it is Alembic's head)."""
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))


def _at_newest_script(engine: Engine) -> bool:
    """Whether the database records the newest script's revision (one cheap query)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return False
        stored = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return stored == [newest_script()]


def migrate(engine: Engine, shown: str) -> None:
    """Bring the database of ``engine`` to the head revision, refusing foreign or newer ones.

    Parameters
    ----------
    engine
        The database to create or upgrade.
    shown
        Its URL with the password masked, for messages.

    Raises
    ------
    StorageError
        The database holds tables but no Timbre schema version, or a revision newer than this
        code knows.
    """
    if _at_newest_script(engine):
        return  # the common case, without loading Alembic and every migration script
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    head = script.get_current_head()
    with engine.connect() as conn:
        current = current_revision(conn)
        tables = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
    if current is None and tables:
        raise StorageError(
            f"{shown} holds tables ({', '.join(sorted(tables)[:5])}) but no Timbre schema "
            "version; refusing to touch it. Use an empty database or another --db."
        )
    if current is not None and current not in known:
        raise StorageError(
            f"database schema of {shown} is at revision {current}, newer than this Timbre "
            f"(knows up to {head}); upgrade Timbre or use another --db"
        )
    if current != head:
        log.info("migrating %s from %s to %s", shown, current, head)
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "head")
