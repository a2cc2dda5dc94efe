"""The store: SQLAlchemy 2 schema and repository functions (the only module that speaks SQL)."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
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
    event,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from timbre.config import Settings
from timbre.errors import DataError, StorageError
from timbre.records import AUDIO_FEATURES, ImportBatch, ImportReport

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: ``interactions.ts`` for rows without a timestamp (aggregated counts): NULLs are distinct in
#: SQL unique indexes, so "no time" is a real value to keep the natural key upsertable.
NO_TIMESTAMP = -1
EVENTS = ("play", "top", "love", "skip")
KINDS = ("track", "artist", "album")
FEATURE_COLUMNS = (*AUDIO_FEATURES, "popularity")
_CHUNK = 5000
_IN_CHUNK = 900


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the store's tables (the migrations in ``timbre/migrations``
    create exactly these; a test compares them)."""


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Item(Base):
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
    __tablename__ = "interactions"
    __table_args__ = (
        UniqueConstraint(
            "dataset_id", "user_id", "item_id", "event", "ts", name="uq_interactions_natural"
        ),
        sa.CheckConstraint(
            "event IN ('play', 'top', 'love', 'skip')", name="ck_interactions_event"
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
    __tablename__ = "item_tags"
    __table_args__ = (UniqueConstraint("item_id", "kind", "tag", name="uq_item_tags"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    tag: Mapped[str] = mapped_column(String(300))
    weight: Mapped[float] = mapped_column(Float)


class ItemFeatures(Base):
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
    __tablename__ = "user_friends"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    friend_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class FetchLog(Base):
    __tablename__ = "fetch_logs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_key: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(50))
    kinds: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(10))
    rows: Mapped[int] = mapped_column(Integer, server_default="0")
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class PersonalityProfile(Base):
    __tablename__ = "personality_profiles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_key: Mapped[str] = mapped_column(String(300), index=True)
    instrument: Mapped[str] = mapped_column(String(50))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    percentiles: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ModelRun(Base):
    __tablename__ = "model_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(50))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    dataset: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    artifact_path: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SavedRecommendation(Base):
    __tablename__ = "saved_recommendations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("model_runs.id", ondelete="CASCADE"), index=True)
    user_key: Mapped[str] = mapped_column(String(300))
    rank: Mapped[int] = mapped_column(Integer)
    item_key: Mapped[str] = mapped_column(String(500))
    score: Mapped[float] = mapped_column(Float)
    components: Mapped[dict[str, Any]] = mapped_column(JSON)


TABLES: tuple[sa.Table, ...] = tuple(Base.metadata.sorted_tables)
T_DATASETS: sa.Table = Base.metadata.tables["datasets"]
T_USERS: sa.Table = Base.metadata.tables["users"]
T_ITEMS: sa.Table = Base.metadata.tables["items"]
T_INTERACTIONS: sa.Table = Base.metadata.tables["interactions"]
T_ITEM_TAGS: sa.Table = Base.metadata.tables["item_tags"]
T_ITEM_FEATURES: sa.Table = Base.metadata.tables["item_features"]
T_USER_FRIENDS: sa.Table = Base.metadata.tables["user_friends"]
T_FETCH_LOGS: sa.Table = Base.metadata.tables["fetch_logs"]
T_PERSONALITY_PROFILES: sa.Table = Base.metadata.tables["personality_profiles"]
T_MODEL_RUNS: sa.Table = Base.metadata.tables["model_runs"]
T_SAVED_RECOMMENDATIONS: sa.Table = Base.metadata.tables["saved_recommendations"]


def _alembic_config(connection: Connection | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this code knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def _chunks(rows: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _clean(value: Any) -> Any:
    """Database-ready scalar: NaN/NaT/None -> None, numpy scalars -> Python."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def _ts_to_int(values: pd.Series) -> np.ndarray:
    """UTC timestamps -> epoch milliseconds; missing -> ``NO_TIMESTAMP``."""
    stamps = pd.to_datetime(values, utc=True, errors="coerce")
    ms = np.full(len(stamps), NO_TIMESTAMP, dtype=np.int64)
    present = stamps.notna().to_numpy()
    if present.any():
        epoch = pd.Timestamp(0, tz="UTC")
        ms[present] = ((stamps[present] - epoch) // pd.Timedelta(milliseconds=1)).to_numpy()
    return ms


class Store:
    """Timbre's database: open (and migrate) once, then write batches and read frames.

    Parameters
    ----------
    engine
        A SQLAlchemy engine whose database is at the head revision (use ``Store.open``).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- opening and migrating ------------------------------------------------------------
    @classmethod
    def open(cls, target: Settings | str) -> Store:
        """Open a store by settings or URL, creating or upgrading its schema in place.

        Raises
        ------
        StorageError
            The database cannot be opened, is not a Timbre database, or is newer than this code.
        """
        url = target.resolved_database_url if isinstance(target, Settings) else target
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError:
            raise StorageError(f"not a database URL: {url!r}") from None
        shown = parsed.render_as_string(hide_password=True)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            engine = sa.create_engine(parsed, future=True)
        except (SQLAlchemyError, ImportError) as exc:
            raise StorageError(f"cannot open database {shown}: {exc}") from None
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        try:
            store._migrate(shown)
        except StorageError:
            engine.dispose()
            raise
        except SQLAlchemyError as exc:
            engine.dispose()
            orig = getattr(exc, "orig", None)
            reason = str(orig) if orig else str(exc).splitlines()[0]
            raise StorageError(f"cannot open database {shown}: {reason}") from None
        return store

    def _migrate(self, shown: str) -> None:
        script = ScriptDirectory.from_config(_alembic_config())
        known = {rev.revision for rev in script.walk_revisions()}
        head = script.get_current_head()
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
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
            with self.engine.begin() as conn:
                command.upgrade(_alembic_config(conn), "head")

    def schema_revision(self) -> str | None:
        """The database's current schema revision."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Release all connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------
    def _insert(self, table: sa.Table) -> Any:
        return (pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert)(table)

    def write_batch(self, batch: ImportBatch) -> ImportReport:
        """Write one import in a single transaction (all or nothing), idempotently.

        Natural keys: users and items by ``key``; interactions by (data set, user, item, event,
        timestamp); tags by (item, kind, tag); features by item; friends by pair. Re-writing the
        same batch inserts nothing and changes no value.

        Raises
        ------
        DataError
            An inconsistent batch (unknown event or kind, non-finite or negative weight, an
            interaction or tag naming an item or user that is neither in the batch nor stored).
            Nothing is written.
        StorageError
            The database refused the write; nothing is written.
        """
        report = batch.report
        _validate_batch(batch)
        try:
            with self.engine.begin() as conn:
                before = _counts(conn)
                self._write(conn, batch)
                after = _counts(conn)
        except DataError:
            raise
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).splitlines()[0]
            raise StorageError(
                f"the store refused the import, nothing was written: {reason}"
            ) from None
        report.written = {
            t: after[t] - before[t]
            for t in after
            if after[t] != before[t] or t in ("interactions", "items", "users")
        }
        return report

    def _write(self, conn: Connection, batch: ImportBatch) -> None:
        report = batch.report
        now = _now()
        dataset_id: int | None = None
        if len(batch.interactions):
            conn.execute(
                self._insert(T_DATASETS)
                .values(name=batch.dataset, source=batch.source, created_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            dataset_id = conn.execute(
                sa.select(Dataset.id).where(Dataset.name == batch.dataset)
            ).scalar_one()

        if len(batch.users):
            users = batch.users.drop_duplicates("key")
            rows: list[dict[str, Any]] = [
                {
                    "key": str(k),
                    "name": str(n) if _clean(n) is not None else str(k),
                    "created_at": now,
                }
                for k, n in zip(users["key"], users["name"], strict=True)
            ]
            stmt = self._insert(T_USERS)
            stmt = stmt.on_conflict_do_update(
                index_elements=["key"], set_={"name": stmt.excluded.name}
            )
            for chunk in _chunks(rows):
                conn.execute(stmt, list(chunk))

        if len(batch.items):
            items = batch.items.drop_duplicates("key")
            if items["kind"].isin(KINDS).all() is False:  # validated before; defensive
                raise DataError("item kind must be one of track, artist, album")
            rows = []
            for key, kind, name, artist, lk in zip(
                items["key"],
                items["kind"],
                items["name"],
                items["artist"],
                items["link_key"],
                strict=True,
            ):
                artist_clean = _clean(artist)
                row: dict[str, Any] = {
                    "key": str(key),
                    "kind": str(kind),
                    "name": str(_clean(name) if _clean(name) is not None else key)[:500],
                    "artist": None if artist_clean is None else str(artist_clean)[:500],
                    "source": batch.source,
                    "link_key": str(_clean(lk) or ""),
                    "in_catalog": batch.is_catalog,
                    "catalog_artist_key": None,
                    "catalog_match": batch.is_catalog,
                }
                if batch.is_catalog and artist_clean is not None:
                    from timbre.records import link_key

                    row["catalog_artist_key"] = link_key("artist", str(artist_clean)) or None
                rows.append(row)
            stmt = self._insert(T_ITEMS)
            update = {
                "name": stmt.excluded.name,
                "artist": stmt.excluded.artist,
                "link_key": stmt.excluded.link_key,
            }
            if batch.is_catalog:
                update.update(
                    in_catalog=stmt.excluded.in_catalog,
                    catalog_artist_key=stmt.excluded.catalog_artist_key,
                    catalog_match=stmt.excluded.catalog_match,
                )
            stmt = stmt.on_conflict_do_update(index_elements=["key"], set_=update)
            for chunk in _chunks(rows):
                conn.execute(stmt, list(chunk))

        item_keys = (
            set(batch.interactions["item_key"])
            | set(batch.tags["item_key"])
            | set(batch.features["item_key"])
            | set(batch.items["key"])
        )
        item_ids = self._ids(conn, T_ITEMS, item_keys)
        missing_items = sorted(item_keys - item_ids.keys())
        if missing_items:
            raise DataError(
                f"{len(missing_items)} interaction/tag rows name items that are "
                f"neither in the import nor in the store, e.g. {missing_items[:3]}"
            )
        user_keys = (
            set(batch.interactions["user_key"])
            | set(batch.friends["user_key"])
            | set(batch.friends["friend_key"])
        )
        user_ids = self._ids(conn, T_USERS, user_keys)
        missing_users = sorted(user_keys - user_ids.keys())
        if missing_users:
            raise DataError(
                f"{len(missing_users)} rows name users that are neither in the "
                f"import nor in the store, e.g. {missing_users[:3]}"
            )

        if len(batch.tags):
            tags = batch.tags.drop_duplicates(["item_key", "kind", "tag"], keep="last")
            rows = [
                {
                    "item_id": item_ids[k],
                    "kind": str(kind),
                    "tag": str(tag)[:300],
                    "weight": float(w),
                }
                for k, kind, tag, w in zip(
                    tags["item_key"], tags["kind"], tags["tag"], tags["weight"], strict=True
                )
            ]
            stmt = self._insert(T_ITEM_TAGS)
            stmt = stmt.on_conflict_do_update(
                index_elements=["item_id", "kind", "tag"], set_={"weight": stmt.excluded.weight}
            )
            for chunk in _chunks(rows):
                conn.execute(stmt, list(chunk))

        if len(batch.features):
            feats = batch.features.drop_duplicates("item_key", keep="last")
            columns = [c for c in FEATURE_COLUMNS if c in feats.columns]
            values = feats[columns].astype(float).to_numpy()
            rows = []
            for key, vector in zip(feats["item_key"], values, strict=True):
                feature_row: dict[str, Any] = {"item_id": item_ids[key]}
                feature_row.update(
                    {
                        c: (None if math.isnan(v) else float(v))
                        for c, v in zip(columns, vector, strict=True)
                    }
                )
                rows.append(feature_row)
            stmt = self._insert(T_ITEM_FEATURES)
            stmt = stmt.on_conflict_do_update(
                index_elements=["item_id"], set_={c: stmt.excluded[c] for c in columns}
            )
            for chunk in _chunks(rows):
                conn.execute(stmt, list(chunk))

        if len(batch.friends):
            pairs = {
                (user_ids[a], user_ids[b])
                for a, b in zip(batch.friends["user_key"], batch.friends["friend_key"], strict=True)
            }
            rows = [{"user_id": a, "friend_id": b} for a, b in sorted(pairs)]
            stmt = self._insert(T_USER_FRIENDS).on_conflict_do_nothing()
            for chunk in _chunks(rows):
                conn.execute(stmt, list(chunk))

        if len(batch.interactions):
            assert dataset_id is not None
            inter = batch.interactions
            ts = (
                _ts_to_int(inter["timestamp"])
                if "timestamp" in inter
                else np.full(len(inter), NO_TIMESTAMP, dtype=np.int64)
            )
            frame = pd.DataFrame(
                {
                    "user_id": inter["user_key"].map(user_ids).to_numpy(),
                    "item_id": inter["item_key"].map(item_ids).to_numpy(),
                    "event": inter["event"].astype(str).to_numpy(),
                    "weight": inter["weight"].astype(float).to_numpy(),
                    "ts": ts,
                }
            )
            # the same natural key twice in one batch: sum aggregated counts, keep one timed row
            frame = pd.DataFrame(
                frame.groupby(["user_id", "item_id", "event", "ts"], as_index=False, sort=False)[
                    "weight"
                ].sum()
            )
            rows = [
                {
                    "dataset_id": dataset_id,
                    "user_id": int(u),
                    "item_id": int(i),
                    "event": e,
                    "weight": float(w),
                    "ts": int(t),
                    "source": batch.source,
                }
                for u, i, e, w, t in zip(
                    frame["user_id"],
                    frame["item_id"],
                    frame["event"],
                    frame["weight"],
                    frame["ts"],
                    strict=True,
                )
            ]
            stmt = self._insert(T_INTERACTIONS)
            stmt = stmt.on_conflict_do_update(
                index_elements=["dataset_id", "user_id", "item_id", "event", "ts"],
                set_={"weight": stmt.excluded.weight},
            )
            for chunk in _chunks(rows):
                conn.execute(stmt, list(chunk))

        # link to the catalogue and count matches for the report
        if batch.is_catalog:
            self._relink_all(conn)
        elif len(batch.items):
            ids = [item_ids[k] for k in batch.items["key"].drop_duplicates()]
            self._relink(conn, ids)
        if not batch.is_catalog and len(batch.items):
            matched = self._matched(conn, [item_ids[k] for k in batch.items["key"]])
            keys = [
                k
                for k, lk in zip(
                    batch.items["key"], batch.items["link_key"].fillna(""), strict=True
                )
                if lk or item_ids[k] in matched
            ]
            keys = list(dict.fromkeys(keys))
            report.catalog_candidates = len(keys)
            report.catalog_matched = len(matched)
            if len(batch.interactions):
                matched_keys = {k for k in keys if item_ids[k] in matched}
                report.interactions_matched = int(
                    batch.interactions["item_key"].isin(matched_keys).sum()
                )

    def _ids(self, conn: Connection, table: sa.Table, keys: Iterable[str]) -> dict[str, int]:
        wanted = sorted({str(k) for k in keys})
        found: dict[str, int] = {}
        for chunk in _chunks(wanted, _IN_CHUNK):
            for key, ident in conn.execute(
                sa.select(table.c.key, table.c.id).where(table.c.key.in_(chunk))
            ):
                found[key] = ident
        return found

    @staticmethod
    def _match_expression() -> Any:
        cat = sa.alias(T_ITEMS, "cat")
        items = T_ITEMS
        track_match = sa.exists().where(
            cat.c.in_catalog.is_(True), cat.c.link_key == items.c.link_key
        )
        artist_match = sa.exists().where(
            cat.c.in_catalog.is_(True), cat.c.catalog_artist_key == items.c.link_key
        )
        return sa.or_(
            items.c.in_catalog.is_(True),
            sa.and_(
                items.c.link_key != "",
                sa.or_(
                    sa.and_(items.c.kind == "artist", artist_match),
                    sa.and_(items.c.kind != "artist", track_match),
                ),
            ),
        )

    def _relink(self, conn: Connection, ids: Sequence[int]) -> None:
        items = T_ITEMS
        for chunk in _chunks(list(ids), _IN_CHUNK):
            conn.execute(
                items.update()
                .where(items.c.id.in_(chunk))
                .values(catalog_match=self._match_expression())
            )

    def _relink_all(self, conn: Connection) -> None:
        items = T_ITEMS
        conn.execute(items.update().values(catalog_match=self._match_expression()))

    def _matched(self, conn: Connection, ids: Sequence[int]) -> set[int]:
        items = T_ITEMS
        matched: set[int] = set()
        for chunk in _chunks(list(ids), _IN_CHUNK):
            matched.update(
                conn.execute(
                    sa.select(items.c.id).where(
                        items.c.id.in_(chunk), items.c.catalog_match.is_(True)
                    )
                ).scalars()
            )
        return matched

    # -- reading ---------------------------------------------------------------------------
    def table_counts(self) -> dict[str, int]:
        """Rows per table (used to prove that a failed import changed nothing)."""
        with self.engine.connect() as conn:
            return _counts(conn)

    def content_digest(self) -> dict[str, str]:
        """SHA-256 of every table's rows (all columns, in primary-key order).

        Two equal digests mean the same rows in every table; used to prove that a refused import
        changed nothing. Reads whole tables: meant for tests and small stores.
        """
        digests: dict[str, str] = {}
        with self.engine.connect() as conn:
            for table in TABLES:
                digest = hashlib.sha256()
                order = list(table.primary_key.columns) or list(table.columns)
                for row in conn.execute(sa.select(table).order_by(*order)):
                    digest.update(repr(tuple(row)).encode())
                digests[table.name] = digest.hexdigest()
        return digests

    def list_datasets(self) -> list[dict[str, Any]]:
        """Data sets with their source and creation time, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(Dataset.name, Dataset.source, Dataset.created_at).order_by(Dataset.id)
            ).all()
        return [{"name": n, "source": s, "created_at": c} for n, s, c in rows]

    def _dataset_id(self, conn: Connection, name: str) -> int:
        ident = conn.execute(sa.select(Dataset.id).where(Dataset.name == name)).scalar()
        if ident is None:
            known = [r[0] for r in conn.execute(sa.select(Dataset.name))]
            raise DataError(f"no data set named {name!r}; known: {', '.join(known) or 'none'}")
        return int(ident)

    def stats(self) -> dict[str, Any]:
        """Users, items per kind, interactions, per data set counts and catalogue match rates."""
        inter, items = T_INTERACTIONS, T_ITEMS
        with self.engine.connect() as conn:
            users = conn.execute(sa.select(sa.func.count()).select_from(T_USERS)).scalar()
            kinds: dict[str, int] = {
                str(kind): int(count)
                for kind, count in conn.execute(
                    sa.select(items.c.kind, sa.func.count()).group_by(items.c.kind)
                )
            }
            total = conn.execute(sa.select(sa.func.count()).select_from(inter)).scalar()
            catalog_tracks = conn.execute(
                sa.select(sa.func.count()).where(items.c.in_catalog.is_(True))
            ).scalar()
            catalog_artists = conn.execute(
                sa.select(sa.func.count(sa.distinct(items.c.catalog_artist_key))).where(
                    items.c.in_catalog.is_(True)
                )
            ).scalar()
            per = conn.execute(
                sa.select(
                    Dataset.name,
                    Dataset.source,
                    sa.func.count(sa.distinct(inter.c.user_id)),
                    sa.func.count(sa.distinct(inter.c.item_id)),
                    sa.func.count(),
                    sa.func.sum(sa.case((items.c.catalog_match.is_(True), 1), else_=0)),
                )
                .select_from(
                    T_DATASETS.join(inter, inter.c.dataset_id == Dataset.id).join(
                        items, items.c.id == inter.c.item_id
                    )
                )
                .group_by(Dataset.id, Dataset.name, Dataset.source)
                .order_by(Dataset.id)
            ).all()
            item_match = dict(
                conn.execute(
                    sa.select(Dataset.name, sa.func.count(sa.distinct(items.c.id)))
                    .select_from(
                        T_DATASETS.join(inter, inter.c.dataset_id == Dataset.id).join(
                            items, items.c.id == inter.c.item_id
                        )
                    )
                    .where(items.c.catalog_match.is_(True))
                    .group_by(Dataset.name)
                ).all()
            )
            linkable = dict(
                conn.execute(
                    sa.select(Dataset.name, sa.func.count(sa.distinct(items.c.id)))
                    .select_from(
                        T_DATASETS.join(inter, inter.c.dataset_id == Dataset.id).join(
                            items, items.c.id == inter.c.item_id
                        )
                    )
                    .where(sa.or_(items.c.link_key != "", items.c.in_catalog.is_(True)))
                    .group_by(Dataset.name)
                ).all()
            )
        datasets: dict[str, dict[str, Any]] = {}
        for name, source, n_users, n_items, n_inter, n_matched_inter in per:
            candidates = linkable.get(name, 0)
            datasets[name] = {
                "source": source,
                "users": int(n_users),
                "items": int(n_items),
                "interactions": int(n_inter),
                "catalog_match_rate": (item_match.get(name, 0) / candidates)
                if candidates
                else None,
                "interactions_match_rate": (int(n_matched_inter or 0) / n_inter)
                if candidates
                else None,
            }
        return {
            "users": int(users or 0),
            "items": {kind: int(kinds.get(kind, 0)) for kind in ("artist", "track", "album")},
            "interactions": int(total or 0),
            "datasets": datasets,
            "catalog": {"tracks": int(catalog_tracks or 0), "artists": int(catalog_artists or 0)},
        }

    def load_dataset(self, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """One data set as long-format frames for ``InteractionData.from_frames``.

        Returns
        -------
        interactions
            ``user_key, item_key, event, weight, timestamp`` (UTC or NaT).
        items
            ``key, kind, name, artist, in_catalog, catalog_match, genres, tags`` + the 12 audio
            features + ``popularity``: the item's own values, else those of its catalogue track,
            else (artists) the mean over the artist's catalogue tracks.
        """
        inter, items, users = T_INTERACTIONS, T_ITEMS, T_USERS
        with self.engine.connect() as conn:
            dataset_id = self._dataset_id(conn, name)
            frame = pd.DataFrame(
                conn.execute(
                    sa.select(
                        users.c.key,
                        items.c.key,
                        inter.c.event,
                        inter.c.weight,
                        inter.c.ts,
                        inter.c.item_id,
                    )
                    .select_from(
                        inter.join(users, users.c.id == inter.c.user_id).join(
                            items, items.c.id == inter.c.item_id
                        )
                    )
                    .where(inter.c.dataset_id == dataset_id)
                ).all(),
                columns=["user_key", "item_key", "event", "weight", "ts", "item_id"],
            )
            meta = pd.DataFrame(
                conn.execute(
                    sa.select(
                        items.c.id,
                        items.c.key,
                        items.c.kind,
                        items.c.name,
                        items.c.artist,
                        items.c.link_key,
                        items.c.in_catalog,
                        items.c.catalog_match,
                    ).where(
                        items.c.id.in_(
                            sa.select(inter.c.item_id).where(inter.c.dataset_id == dataset_id)
                        )
                    )
                ).all(),
                columns=[
                    "id",
                    "key",
                    "kind",
                    "name",
                    "artist",
                    "link_key",
                    "in_catalog",
                    "catalog_match",
                ],
            )
            catalog = self._catalog_frame(conn)
            tags = pd.DataFrame(
                conn.execute(
                    sa.select(ItemTag.item_id, ItemTag.kind, ItemTag.tag, ItemTag.weight).where(
                        ItemTag.item_id.in_(
                            sa.select(inter.c.item_id).where(inter.c.dataset_id == dataset_id)
                        )
                    )
                ).all(),
                columns=["item_id", "kind", "tag", "weight"],
            )
            own = pd.DataFrame(
                conn.execute(
                    sa.select(T_ITEM_FEATURES).where(
                        ItemFeatures.item_id.in_(
                            sa.select(inter.c.item_id).where(inter.c.dataset_id == dataset_id)
                        )
                    )
                ).all(),
                columns=["item_id", *FEATURE_COLUMNS],
            )
        ts = frame.pop("ts").to_numpy(dtype=np.int64)
        stamps = pd.to_datetime(np.where(ts == NO_TIMESTAMP, 0, ts), unit="ms", utc=True)
        frame["timestamp"] = pd.Series(stamps, index=frame.index).where(ts != NO_TIMESTAMP)
        frame = frame.drop(columns=["item_id"])
        return frame, _item_metadata(meta, tags, own, catalog)

    def _catalog_frame(self, conn: Connection) -> pd.DataFrame:
        items = T_ITEMS
        feats = T_ITEM_FEATURES
        genre = (
            sa.select(ItemTag.item_id, ItemTag.tag, ItemTag.weight)
            .where(ItemTag.kind == "genre")
            .subquery()
        )
        rows = conn.execute(
            sa.select(
                items.c.link_key,
                items.c.catalog_artist_key,
                genre.c.tag,
                *[feats.c[c] for c in FEATURE_COLUMNS],
            )
            .select_from(
                items.outerjoin(feats, feats.c.item_id == items.c.id).outerjoin(
                    genre, genre.c.item_id == items.c.id
                )
            )
            .where(items.c.in_catalog.is_(True))
        ).all()
        return pd.DataFrame(rows, columns=["link_key", "artist_key", "genre", *FEATURE_COLUMNS])

    def plays_per_user(self, name: str) -> pd.Series:
        """Total weight per user in a data set (index: user key)."""
        inter, users = T_INTERACTIONS, T_USERS
        with self.engine.connect() as conn:
            dataset_id = self._dataset_id(conn, name)
            rows = conn.execute(
                sa.select(users.c.key, sa.func.sum(inter.c.weight))
                .select_from(inter.join(users, users.c.id == inter.c.user_id))
                .where(inter.c.dataset_id == dataset_id)
                .group_by(users.c.key)
            ).all()
        return pd.Series({k: float(v) for k, v in rows}, name="plays", dtype=float)

    def top_items(self, name: str, n: int = 20) -> pd.DataFrame:
        """The ``n`` most played items: ``key, name, artist, plays, listeners``."""
        inter, items = T_INTERACTIONS, T_ITEMS
        with self.engine.connect() as conn:
            dataset_id = self._dataset_id(conn, name)
            plays = sa.func.sum(inter.c.weight).label("plays")
            rows = conn.execute(
                sa.select(
                    items.c.key,
                    items.c.name,
                    items.c.artist,
                    plays,
                    sa.func.count(sa.distinct(inter.c.user_id)),
                )
                .select_from(inter.join(items, items.c.id == inter.c.item_id))
                .where(inter.c.dataset_id == dataset_id)
                .group_by(items.c.id, items.c.key, items.c.name, items.c.artist)
                .order_by(plays.desc(), items.c.key)
                .limit(n)
            ).all()
        frame = pd.DataFrame(rows, columns=["key", "name", "artist", "plays", "listeners"])
        artist = frame["artist"].fillna("").astype(str)
        title = frame["name"].astype(str)
        frame["name"] = (artist + " - " + title).where(artist != "", title)
        return frame

    def genre_mix(self, name: str) -> pd.DataFrame:
        """Plays per catalogue genre for a data set's matched items (``genre, plays``)."""
        interactions, items = self.load_dataset(name)
        first = items.set_index("key")["genres"].map(lambda g: g[0] if len(g) else None)
        genre = interactions["item_key"].map(first)
        mix = interactions.assign(genre=genre).dropna(subset=["genre"])
        plays = mix.groupby("genre")["weight"].sum().rename("plays")
        return plays.reset_index().sort_values("plays", ascending=False, ignore_index=True)

    def friend_pairs(self, name: str) -> pd.DataFrame:
        """Friend pairs (``user_key, friend_key``, as stored: directed) between users who both
        have interactions in data set ``name``; empty when the source has no friend graph."""
        inter, users, friends = T_INTERACTIONS, T_USERS, T_USER_FRIENDS
        with self.engine.connect() as conn:
            dataset_id = self._dataset_id(conn, name)
            members = sa.select(inter.c.user_id).where(inter.c.dataset_id == dataset_id)
            a, b = users.alias("a"), users.alias("b")
            rows = conn.execute(
                sa.select(a.c.key, b.c.key)
                .select_from(
                    friends.join(a, a.c.id == friends.c.user_id).join(
                        b, b.c.id == friends.c.friend_id
                    )
                )
                .where(friends.c.user_id.in_(members), friends.c.friend_id.in_(members))
                .order_by(a.c.key, b.c.key)
            ).all()
        return pd.DataFrame(rows, columns=["user_key", "friend_key"])

    def delete_dataset(self, name: str) -> int:
        """Delete a data set and its interactions; returns the interactions removed."""
        with self.engine.begin() as conn:
            dataset_id = self._dataset_id(conn, name)
            removed = conn.execute(
                T_INTERACTIONS.delete().where(Interaction.dataset_id == dataset_id)
            ).rowcount
            conn.execute(T_DATASETS.delete().where(Dataset.id == dataset_id))
        return int(removed or 0)

    # -- users of the live connectors -------------------------------------------------------
    def list_users(self, prefix: str = "") -> pd.DataFrame:
        """Users whose key starts with ``prefix`` (``lastfm:``, ``spotify:user:``), by key.

        Returns
        -------
        pandas.DataFrame
            ``key, name, created_at, interactions, datasets`` (comma-separated data set names).
        """
        users, inter = T_USERS, T_INTERACTIONS
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(users.c.id, users.c.key, users.c.name, users.c.created_at)
                .where(users.c.key.like(f"{escaped}%", escape="\\"))
                .order_by(users.c.key)
            ).all()
            ids = [r[0] for r in rows]
            counts: dict[int, int] = {}
            names: dict[int, set[str]] = {}
            for chunk in _chunks(ids, _IN_CHUNK):
                for user_id, dataset, n in conn.execute(
                    sa.select(inter.c.user_id, Dataset.name, sa.func.count())
                    .select_from(inter.join(T_DATASETS, T_DATASETS.c.id == inter.c.dataset_id))
                    .where(inter.c.user_id.in_(chunk))
                    .group_by(inter.c.user_id, Dataset.name)
                ):
                    counts[user_id] = counts.get(user_id, 0) + int(n)
                    names.setdefault(user_id, set()).add(str(dataset))
        return pd.DataFrame(
            {
                "key": [r[1] for r in rows],
                "name": [r[2] for r in rows],
                "created_at": [r[3] for r in rows],
                "interactions": [counts.get(r[0], 0) for r in rows],
                "datasets": [", ".join(sorted(names.get(r[0], ()))) for r in rows],
            }
        )

    def remove_user(self, key: str) -> dict[str, int]:
        """Delete a user and exactly their rows, in one transaction.

        Removed: the user, their interactions (every data set), friendships in either
        direction, their fetch logs, personality profiles and saved recommendations, and data
        sets that this leaves without any interaction. Items (tracks, artists, albums) are shared
        and stay, with their tags and features.

        Returns
        -------
        dict
            Rows removed per table.

        Raises
        ------
        DataError
            No user has this key.
        """
        users, inter = T_USERS, T_INTERACTIONS
        with self.engine.begin() as conn:
            user_id = conn.execute(sa.select(users.c.id).where(users.c.key == key)).scalar()
            if user_id is None:
                raise DataError(f"no user {key!r} in the store")
            touched = list(
                conn.execute(
                    sa.select(inter.c.dataset_id).distinct().where(inter.c.user_id == user_id)
                ).scalars()
            )
            removed = {
                "interactions": conn.execute(
                    inter.delete().where(inter.c.user_id == user_id)
                ).rowcount,
                "user_friends": conn.execute(
                    T_USER_FRIENDS.delete().where(
                        sa.or_(
                            T_USER_FRIENDS.c.user_id == user_id,
                            T_USER_FRIENDS.c.friend_id == user_id,
                        )
                    )
                ).rowcount,
                "fetch_logs": conn.execute(
                    T_FETCH_LOGS.delete().where(T_FETCH_LOGS.c.user_key == key)
                ).rowcount,
                "personality_profiles": conn.execute(
                    T_PERSONALITY_PROFILES.delete().where(T_PERSONALITY_PROFILES.c.user_key == key)
                ).rowcount,
                "saved_recommendations": conn.execute(
                    T_SAVED_RECOMMENDATIONS.delete().where(
                        T_SAVED_RECOMMENDATIONS.c.user_key == key
                    )
                ).rowcount,
            }
            empty = [
                d
                for d in touched
                if conn.execute(
                    sa.select(inter.c.id).where(inter.c.dataset_id == d).limit(1)
                ).first()
                is None
            ]
            removed["datasets"] = (
                conn.execute(T_DATASETS.delete().where(T_DATASETS.c.id.in_(empty))).rowcount
                if empty
                else 0
            )
            removed["users"] = conn.execute(users.delete().where(users.c.id == user_id)).rowcount
        return {table: int(n or 0) for table, n in removed.items()}

    def latest_event_ms(self, dataset: str, user_key: str, event: str) -> int | None:
        """The newest timestamp (epoch ms) of a user's ``event`` rows in a data set, or ``None``.

        The live connectors resume a history from here (a missing data set or user is ``None``).
        """
        inter = T_INTERACTIONS
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(sa.func.max(inter.c.ts))
                .select_from(
                    inter.join(T_USERS, T_USERS.c.id == inter.c.user_id).join(
                        T_DATASETS, T_DATASETS.c.id == inter.c.dataset_id
                    )
                )
                .where(
                    Dataset.name == dataset,
                    T_USERS.c.key == user_key,
                    inter.c.event == event,
                    inter.c.ts != NO_TIMESTAMP,
                )
            ).scalar()
        return None if value is None else int(value)

    def item_keys_with_tags(self, keys: Iterable[str], kind: str = "tag") -> set[str]:
        """Which of ``keys`` name items that already have tags of ``kind``."""
        items, tags = T_ITEMS, T_ITEM_TAGS
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted({str(k) for k in keys}), _IN_CHUNK):
                found.update(
                    conn.execute(
                        sa.select(items.c.key)
                        .distinct()
                        .select_from(items.join(tags, tags.c.item_id == items.c.id))
                        .where(items.c.key.in_(chunk), tags.c.kind == kind)
                    ).scalars()
                )
        return found

    # -- logs, profiles, runs (used by later parts) -------------------------------------------
    def add_fetch_log(self, **values: Any) -> int:
        """Record one fetch (``user_key, source, kinds, started_at, status, ...``)."""
        values.setdefault("started_at", _now())
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    T_FETCH_LOGS.insert().values(**values).returning(FetchLog.id)
                ).scalar_one()
            )

    def list_fetch_logs(self, limit: int = 500) -> pd.DataFrame:
        """Newest fetch logs first."""
        with self.engine.connect() as conn:
            return pd.read_sql(
                sa.select(T_FETCH_LOGS).order_by(FetchLog.id.desc()).limit(limit), conn
            )

    def add_profile(
        self,
        user_key: str,
        instrument: str,
        answers: dict[str, Any],
        scores: dict[str, Any],
        percentiles: dict[str, Any],
    ) -> int:
        """Store a personality profile (a retake adds a new row; the latest is used)."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    T_PERSONALITY_PROFILES.insert()
                    .values(
                        user_key=user_key,
                        instrument=instrument,
                        answers=answers,
                        scores=scores,
                        percentiles=percentiles,
                        created_at=_now(),
                    )
                    .returning(PersonalityProfile.id)
                ).scalar_one()
            )

    def list_profiles(self, user_key: str | None = None) -> list[dict[str, Any]]:
        """Profiles, newest first (optionally of one user)."""
        query = sa.select(T_PERSONALITY_PROFILES).order_by(PersonalityProfile.id.desc())
        if user_key is not None:
            query = query.where(PersonalityProfile.user_key == user_key)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def latest_profile(self, user_key: str) -> dict[str, Any] | None:
        """The newest profile of a user, or ``None``."""
        profiles = self.list_profiles(user_key)
        return profiles[0] if profiles else None

    def add_model_run(
        self,
        model: str,
        params: dict[str, Any],
        dataset: str,
        fingerprint: str,
        metrics: dict[str, Any] | None = None,
        duration_s: float | None = None,
        artifact_path: str | None = None,
    ) -> int:
        """Record a training run; returns its id."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    T_MODEL_RUNS.insert()
                    .values(
                        model=model,
                        params=params,
                        dataset=dataset,
                        fingerprint=fingerprint,
                        metrics=metrics or {},
                        duration_s=duration_s,
                        artifact_path=artifact_path,
                        created_at=_now(),
                    )
                    .returning(ModelRun.id)
                ).scalar_one()
            )

    def list_model_runs(self) -> list[dict[str, Any]]:
        """Training runs, newest first."""
        with self.engine.connect() as conn:
            return [
                dict(r._mapping)
                for r in conn.execute(sa.select(T_MODEL_RUNS).order_by(ModelRun.id.desc()))
            ]

    def set_active_run(self, run_id: int) -> None:
        """Make one run the active model of its data set."""
        runs = T_MODEL_RUNS
        with self.engine.begin() as conn:
            dataset = conn.execute(sa.select(runs.c.dataset).where(runs.c.id == run_id)).scalar()
            if dataset is None:
                raise DataError(f"no model run {run_id}")
            conn.execute(runs.update().where(runs.c.dataset == dataset).values(active=False))
            conn.execute(runs.update().where(runs.c.id == run_id).values(active=True))

    def delete_model_run(self, run_id: int) -> str | None:
        """Delete a run (and its saved recommendations); returns its artifact path."""
        runs = T_MODEL_RUNS
        with self.engine.begin() as conn:
            path = conn.execute(sa.select(runs.c.artifact_path).where(runs.c.id == run_id)).scalar()
            conn.execute(
                T_SAVED_RECOMMENDATIONS.delete().where(SavedRecommendation.run_id == run_id)
            )
            conn.execute(runs.delete().where(runs.c.id == run_id))
        return path

    def save_recommendations(self, run_id: int, rows: Sequence[dict[str, Any]]) -> int:
        """Store ranked recommendations (``user_key, rank, item_key, score, components``)."""
        with self.engine.begin() as conn:
            for chunk in _chunks(list(rows)):
                conn.execute(
                    T_SAVED_RECOMMENDATIONS.insert(),
                    [{"run_id": run_id, **row} for row in chunk],
                )
        return len(rows)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _counts(conn: Connection) -> dict[str, int]:
    return {
        table.name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)
        for table in TABLES
    }


def _validate_batch(batch: ImportBatch) -> None:
    """Refuse an inconsistent batch before anything is written."""
    inter = batch.interactions
    if len(inter):
        bad_events = sorted(set(inter["event"].astype(str)) - set(EVENTS))
        if bad_events:
            raise DataError(
                f"unknown interaction event(s) {bad_events}; expected one of {', '.join(EVENTS)}"
            )
        weights = pd.to_numeric(inter["weight"], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(weights)):
            raise DataError(
                f"{int((~np.isfinite(weights)).sum())} interaction weights are not finite numbers"
            )
        if (weights < 0).any():
            raise DataError(f"{int((weights < 0).sum())} interaction weights are negative")
        if (inter["user_key"].astype(str) == "").any() or (
            inter["item_key"].astype(str) == ""
        ).any():
            raise DataError("interactions with an empty user or item key")
    if len(batch.items):
        bad_kinds = sorted(set(batch.items["kind"].astype(str)) - set(KINDS))
        if bad_kinds:
            raise DataError(f"unknown item kind(s) {bad_kinds}; expected track, artist or album")
    if len(batch.interactions) and not batch.dataset.strip():
        raise DataError("a data set name is required for interactions")


def _top_lists(
    keys: pd.Series, values: pd.Series, weights: pd.Series, limit: int
) -> dict[Any, list[str]]:
    """Per key, up to ``limit`` values by descending weight (ties by value)."""
    frame = pd.DataFrame(
        {
            "k": keys.to_numpy(),
            "v": values.astype(str).to_numpy(),
            "w": weights.to_numpy(dtype=float),
        }
    )
    frame = frame.sort_values(["k", "w", "v"], ascending=[True, False, True], kind="stable")
    out: dict[Any, list[str]] = {}
    for key, value in zip(frame["k"].tolist(), frame["v"].tolist(), strict=True):
        bucket = out.setdefault(key, [])
        if len(bucket) < limit:
            bucket.append(value)
    return out


def _item_metadata(
    meta: pd.DataFrame, tags: pd.DataFrame, own: pd.DataFrame, catalog: pd.DataFrame
) -> pd.DataFrame:
    """Items with tags, genres and audio features (own, else linked from the catalogue)."""
    out = meta.copy()
    # tags: top 20 Last.fm tags by weight; genres: own catalogue genres
    tag_rows = tags[tags["kind"] == "tag"]
    genre_own = tags[tags["kind"] == "genre"]
    tag_lists = _top_lists(tag_rows["item_id"], tag_rows["tag"], tag_rows["weight"], 20)
    own_genres = _top_lists(genre_own["item_id"], genre_own["tag"], genre_own["weight"], 5)
    # linked values: tracks by link key, artists by catalogue artist key
    features = catalog.drop(columns=["genre"]).drop_duplicates()
    by_track = features.drop(columns=["artist_key"]).groupby("link_key").mean()
    by_artist = features.drop(columns=["link_key"]).groupby("artist_key").mean()
    genre_rows = catalog.dropna(subset=["genre"])
    per_track = genre_rows.groupby(["link_key", "genre"]).size().reset_index(name="n")
    per_artist = genre_rows.groupby(["artist_key", "genre"]).size().reset_index(name="n")
    track_genres = _top_lists(per_track["link_key"], per_track["genre"], per_track["n"], 5)
    artist_genres = _top_lists(per_artist["artist_key"], per_artist["genre"], per_artist["n"], 5)
    is_artist = (out["kind"] == "artist").to_numpy()
    matched = out["catalog_match"].astype(bool).to_numpy()
    tags_col, genres_col = [], []
    for ident, lk, artist_kind, hit in zip(
        out["id"], out["link_key"], is_artist, matched, strict=True
    ):
        tags_col.append(tag_lists.get(ident, []))
        genres = own_genres.get(ident)
        if not genres and hit:
            genres = (artist_genres if artist_kind else track_genres).get(lk)
        genres_col.append(list(genres or []))
    out["tags"] = tags_col
    out["genres"] = genres_col
    linked = pd.DataFrame(np.nan, index=out.index, columns=list(FEATURE_COLUMNS))
    art = is_artist & matched
    trk = ~is_artist & matched
    if art.any():
        linked.loc[art] = by_artist.reindex(out.loc[art, "link_key"])[
            list(FEATURE_COLUMNS)
        ].to_numpy()
    if trk.any():
        linked.loc[trk] = by_track.reindex(out.loc[trk, "link_key"])[
            list(FEATURE_COLUMNS)
        ].to_numpy()
    own_feats = own.set_index("item_id").reindex(out["id"])[list(FEATURE_COLUMNS)]
    own_feats.index = out.index
    values = own_feats.astype(float).combine_first(linked.astype(float))
    for column in FEATURE_COLUMNS:
        out[column] = values[column].to_numpy()
    return out.drop(columns=["id"]).sort_values("key", ignore_index=True)
