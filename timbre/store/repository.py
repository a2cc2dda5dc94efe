"""The ``Store``: opens and migrates Timbre's database, then lends a connection to each call."""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from timbre.config import Settings
from timbre.errors import DataError, ParameterError, StorageError
from timbre.records import ImportBatch, ImportReport
from timbre.store import (
    checks,
    datasets,
    keys,
    loading,
    locks,
    people,
    registry,
    revisions,
    users,
    writers,
)
from timbre.store.schema import EVENTS, current_revision, migrate
from timbre.store.sql import WriteCounts, content_digest, failure_reason, table_counts

log = logging.getLogger(__name__)

#: Tables whose change ``write_batch`` always reports, even when zero rows were added.
ALWAYS_REPORTED = ("interactions", "items", "users")


class Store:
    """Timbre's database: open (and migrate) once, then write batches and read frames.

    Every method runs in its own connection; those that write, in one transaction (all or
    nothing). A failure of the database itself raises ``StorageError``; a database another
    writer kept busy past the busy timeout, one that says which process writes what (see
    ``timbre.store.locks``).

    Parameters
    ----------
    engine
        A SQLAlchemy engine whose database is at the head revision (use ``Store.open``).
    busy_timeout_s
        How long a SQLite write waits for another writer (``None`` for other backends).
    """

    def __init__(
        self, engine: Engine, busy_timeout_s: float | None = None, cache_dir: Path | None = None
    ) -> None:
        self.engine = engine
        self.busy_timeout_s = busy_timeout_s
        self._writer = engine.execution_options(**{locks.WRITE_OPTION: True})
        #: Where loaded data sets are cached (``timbre.matrix_cache``); ``None``: no cache.
        self.cache_dir = cache_dir
        #: The connection of the :meth:`reading` block this task or thread is in, if any.
        self._reader: ContextVar[Connection | None] = ContextVar(
            f"timbre_store_reader_{id(self)}", default=None
        )

    # -- opening and migrating ------------------------------------------------------------
    @classmethod
    def open(cls, target: Settings | str) -> Store:
        """Open a store by settings or URL, creating or upgrading its schema in place.

        Parameters
        ----------
        target
            Settings (their resolved database URL) or a SQLAlchemy URL.

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
        timeout = locks.busy_timeout(parsed) if parsed.get_backend_name() == "sqlite" else None
        try:
            engine = sa.create_engine(parsed, future=True)
        except (SQLAlchemyError, ImportError) as exc:
            raise StorageError(f"cannot open database {shown}: {exc}") from None
        if engine.dialect.name == "sqlite":
            locks.install_sqlite(engine, timeout or locks.DEFAULT_BUSY_TIMEOUT_S)
        try:
            migrate(engine, shown)
        except StorageError:
            engine.dispose()
            raise
        except SQLAlchemyError as exc:
            engine.dispose()
            orig = getattr(exc, "orig", None)
            reason = str(orig) if orig else str(exc).splitlines()[0]
            raise StorageError(f"cannot open database {shown}: {reason}") from None
        return cls(engine, timeout, target.home / "cache" if isinstance(target, Settings) else None)

    def schema_revision(self) -> str | None:
        """The database's current schema revision."""
        with self._connection() as conn:
            return current_revision(conn)

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

    @contextmanager
    def _connection(
        self, *, transaction: bool = False, failure: str = "", operation: str = ""
    ) -> Iterator[Connection]:
        """A connection (with ``transaction``, inside one that commits on success).

        A database failure becomes a ``StorageError`` starting with ``failure`` (one that says
        who keeps the database busy, when it is busy); Timbre's own errors pass through (and
        roll the transaction back). ``operation`` (``"importing ..."``) records a long write
        while it runs, for the messages of other processes that wait for it.
        """
        record = locks.recorded(self._writer, operation) if operation else nullcontext()
        reader = None if transaction else self._reader.get()
        try:
            if reader is not None:
                yield reader
                return
            with record, self._writer.begin() if transaction else self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            if locks.is_busy(exc):
                message = locks.busy_message(self.engine, self.busy_timeout_s)
                raise locks.DatabaseBusy(message) from None
            said = failure or f"the database {self.url} failed"
            raise StorageError(f"{said}: {failure_reason(exc)}") from None

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Every read of this task or thread inside the block on one connection: one checkout
        and one snapshot for a sequence of reads (an API answer makes five). Writes still take
        their own transaction; a block within a block uses the outer one's connection."""
        if self._reader.get() is not None:
            yield
            return
        with self._connection() as conn:
            token = self._reader.set(conn)
            try:
                yield
            finally:
                self._reader.reset(token)

    # -- writing ---------------------------------------------------------------------------
    def write_batch(self, batch: ImportBatch, operation: str | None = None) -> ImportReport:
        """Write one import in a single transaction (all or nothing), idempotently.

        Natural keys: users and items by ``key``; interactions by (data set, user, item, event,
        timestamp; for a batch with a play precision, the same play within the coarser
        precision, see ``timbre.store.scrobbles``); tags by (item, kind, tag); features by item;
        friends by pair. Re-writing the same batch inserts nothing and changes no value. Rows
        whose id or name is longer than ``timbre.records.MAX_CHARS`` allows are dropped and
        counted first (see ``timbre.store.checks.drop_oversized``).

        Parameters
        ----------
        batch
            The import.
        operation
            What the write is, for other processes that find the database busy meanwhile
            (default: "importing <source> data into data set <name>").

        Returns
        -------
        ImportReport
            The batch's report with, per table, the rows this write added (``written``), changed
            (``updated``) and found as they were (``unchanged``), counted from the database's
            answers to this write alone, and the catalogue match counts.

        Raises
        ------
        DataError
            An inconsistent batch (unknown event or kind, non-finite or negative weight, a bad
            data set name, an interaction or tag naming an item or user that is neither in the
            batch nor stored), or one whose every interaction was dropped. Nothing is written.
        StorageError
            The database refused the write, or stayed busy; nothing is written.
        """
        into = f" into data set {batch.dataset!r}" if batch.dataset else ""
        return self.write_imports([batch], operation or f"importing {batch.source} data{into}")[0]

    def write_imports(
        self, batches: Sequence[ImportBatch], operation: str | None = None
    ) -> list[ImportReport]:
        """Write several imports (the files of one upload) in a single transaction: all of them
        or none, each as :meth:`write_batch` writes one. Returns their reports, in order."""
        for batch in batches:
            checks.validate_batch(batch)
            checks.drop_oversized(batch)
        refused = "the store refused the import, nothing was written"
        names = ", ".join(sorted({repr(b.dataset) for b in batches}))
        what = operation or f"importing {len(batches)} files into data sets {names}"
        with self._connection(transaction=True, failure=refused, operation=what) as conn:
            counts = [writers.write_batch(conn, batch) for batch in batches]
        for batch, done in zip(batches, counts, strict=True):
            _fill_counts(batch.report, done)
        return [batch.report for batch in batches]

    def write_batches(
        self,
        batches: Iterable[ImportBatch],
        report: ImportReport,
        progress: Callable[[ImportReport], None] | None = None,
    ) -> ImportReport:
        """Write a streamed import (chunks of one file sharing ``report``) in one transaction:
        all of it or nothing, however many chunks. Into a data set the import creates, every
        chunk takes the bulk path and keys repeated across chunks are summed; into an existing
        one each chunk is an idempotent upsert (as :meth:`write_batch`). ``progress`` is called
        after each chunk is written. Returns ``report`` with the counts of all chunks."""
        refused = "the store refused the import, nothing was written"
        total: dict[str, WriteCounts] = {}
        with self._connection(
            transaction=True, failure=refused, operation=f"importing {report.dataset!r}"
        ) as conn:
            fresh = not writers.dataset_exists(conn, report.dataset)
            newest = writers.newest_item_id(conn)  # items above it are this import's own
            seen: dict[str, set[str]] = {"items": set(), "users": set()}
            for number, batch in enumerate(batches):
                checks.validate_batch(batch)
                checks.drop_oversized(batch)
                _drop_written(batch, seen)  # an item or user once, as in one read of the file
                continued = fresh and number > 0
                counts = writers.write_batch(conn, batch, fresh, continued, newest)
                for table, done in counts.items():
                    if not (continued and table == "datasets"):  # the first chunk made it
                        total.setdefault(table, WriteCounts()).add(done)
                if progress is not None:
                    progress(report)
            if fresh:  # the chunks' rows may have merged: count what the new data set holds
                total["interactions"] = WriteCounts(
                    new=writers.count_interactions(conn, report.dataset)
                )
            writers.catalog_counts(conn, report)  # once over the data set, not per chunk
        _fill_counts(report, total)
        return report

    # -- reading ---------------------------------------------------------------------------
    def table_counts(self) -> dict[str, int]:
        """Rows per table (used to prove that a failed import changed nothing)."""
        with self._connection() as conn:
            return table_counts(conn)

    def content_digest(self) -> dict[str, str]:
        """SHA-256 of every table's rows (all columns, in primary-key order).

        Two equal digests mean the same rows in every table; used to prove that a refused import
        changed nothing. Reads whole tables: meant for tests and small stores.
        """
        with self._connection() as conn:
            return content_digest(conn)

    def list_datasets(self) -> list[dict[str, Any]]:
        """Data sets with their source and creation time, oldest first."""
        with self._connection() as conn:
            return datasets.list_datasets(conn)

    def stats(self) -> dict[str, Any]:
        """Users, items per kind, interactions, per data set counts and catalogue match rates."""
        with self._connection() as conn:
            return datasets.stats(conn, self.cache_dir)

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

        Raises
        ------
        DataError
            No data set has this name.
        """
        with self._connection() as conn:
            return datasets.load_dataset(conn, name)

    def load_columns(self, name: str) -> loading.DatasetColumns:
        """One data set as arrays for ``InteractionData.from_codes`` (what ``load_data``
        reads): its rows straight from the driver into NumPy, each key once, the items'
        metadata and the tags ``load_tags`` gives, in one transaction.

        Raises
        ------
        DataError
            No data set has this name.
        """
        with self._connection() as conn:
            return loading.load_columns(conn, name)

    def state_token(self) -> str:
        """Changes with every write the statistics can see (``revisions.state_token``)."""
        with self._connection() as conn:
            return revisions.state_token(conn)

    def dataset_revision(self, name: str) -> tuple[int, str, int] | None:
        """``(id, created_at, revision)`` of data set ``name`` (``None``: no such data set);
        every write to its rows changes it (see ``timbre.store.revisions``)."""
        with self._connection() as conn:
            return revisions.revision_of(conn, name)

    def load_tags(self, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """A data set's tag weights (``item_key, tag, weight``) and its users' own tag
        assignments (``user_key, item_key, tag, timestamp``); see ``datasets.load_tags``."""
        with self._connection() as conn:
            return datasets.load_tags(conn, name)

    def interactions_of(self, user_keys: Sequence[str]) -> pd.DataFrame:
        """Every interaction of these users in any data set, with item kind, name and artist
        (``user_key, dataset, item_key, kind, name, artist, event, weight, timestamp``)."""
        with self._connection() as conn:
            return datasets.interactions_of(conn, user_keys)

    def user_keys_ending(self, suffix: str, limit: int = 6) -> list[str]:
        """Up to ``limit`` user keys ending in ``:suffix`` (``2`` -> ``hetrec:user:2``)."""
        with self._connection() as conn:
            return datasets.user_keys_ending(conn, suffix, limit)

    def existing_user_keys(self, keys: Sequence[str]) -> list[str]:
        """Which of ``keys`` name a user in the store (in the order given)."""
        with self._connection() as conn:
            return datasets.existing_user_keys(conn, keys)

    # -- people: linked accounts and feedback ---------------------------------------------
    def link_account(self, person_key: str, user_key: str) -> None:
        """Link an account (``lastfm:rj``) to a person (``me``); it replaces an older link."""
        with self._connection(transaction=True) as conn:
            people.link_account(conn, person_key, user_key)

    def unlink_account(self, user_key: str) -> int:
        """Remove an account's link to its person (the number of links removed)."""
        with self._connection(transaction=True) as conn:
            return people.unlink_account(conn, user_key)

    def accounts_of(self, person_key: str, candidates: Sequence[str]) -> list[str]:
        """The user keys of ``candidates`` and of the accounts linked to ``person_key`` that
        name a user in the store (candidates first, in order), in one round trip."""
        with self._connection() as conn:
            linked = people.linked_accounts(conn, person_key)
            wanted = [*candidates, *(k for k in linked if k not in candidates)]
            return datasets.existing_user_keys(conn, wanted)

    def linked_accounts(self, person_key: str) -> list[str]:
        """The accounts linked to a person."""
        with self._connection() as conn:
            return people.linked_accounts(conn, person_key)

    def person_of(self, user_key: str) -> str | None:
        """The person an account is linked to, or ``None``."""
        with self._connection() as conn:
            return people.person_of(conn, user_key)

    def add_feedback(self, person_key: str, item_keys: Sequence[str], event: str, ms: int) -> int:
        """Record a person's ``like`` / ``skip`` / ``block`` of items (one transaction); the
        rows written. Unknown items: ``DataError``, nothing written."""
        with self._connection(transaction=True) as conn:
            return people.add_feedback(conn, person_key, item_keys, event, ms)

    def remove_feedback(self, person_key: str, item_keys: Sequence[str], event: str) -> int:
        """Undo a person's ``event`` on these items; the rows deleted."""
        with self._connection(transaction=True) as conn:
            return people.remove_feedback(conn, person_key, item_keys, event)

    def feedback_of(self, person_keys: Sequence[str]) -> pd.DataFrame:
        """The feedback of these keys, oldest first (``user_key, item_key, event, timestamp``)."""
        with self._connection() as conn:
            return people.feedback_of(conn, person_keys)

    def interaction_marks(self, user_keys: Sequence[str]) -> tuple[Any, ...]:
        """What changes whenever these users' rows change (their interactions in every data
        set, feedback included, and their newest profile; see ``people.interaction_marks``):
        a cache of their lists keys on it."""
        with self._connection() as conn:
            return people.interaction_marks(conn, user_keys)

    def serving_marks(self, dataset: str) -> tuple[int | None, int | None, int, int]:
        """The data set's active and newest run with an artifact and the store's profile
        count and newest profile id (see ``registry.serving_marks``), in one round trip."""
        with self._connection() as conn:
            return registry.serving_marks(conn, dataset)

    def profile_marks(self) -> tuple[int, int]:
        """``(profiles, newest profile id)`` of the whole store (an engine holds them all)."""
        with self._connection() as conn:
            return people.profile_marks(conn)

    # -- keys of the JSON API ----------------------------------------------------------------
    def add_api_key(
        self, name: str, key_hash: str, prefix: str, admin: bool, rate_limit: int
    ) -> int:
        """Record an API key by the SHA-256 of its token (never the token); its id."""
        with self._connection(transaction=True) as conn:
            return keys.add_key(conn, name, key_hash, prefix, admin, rate_limit)

    def list_api_keys(self) -> list[dict[str, Any]]:
        """Every API key, oldest first (``id, name, prefix, admin, rate_limit, created_at,
        revoked_at``), without hashes."""
        with self._connection() as conn:
            return keys.list_keys(conn)

    def api_key_by_hash(self, key_hash: str) -> dict[str, Any] | None:
        """The API key whose token hashes to ``key_hash``, or ``None``."""
        with self._connection() as conn:
            return keys.key_by_hash(conn, key_hash)

    def revoke_api_key(self, key_id: int) -> bool:
        """Revoke an API key (``False``: it was revoked already; ``NotFoundError``: none)."""
        with self._connection(transaction=True) as conn:
            return keys.revoke_key(conn, key_id)

    def plays_per_user(self, name: str) -> pd.Series:
        """Total weight per user in a data set (index: user key)."""
        with self._connection() as conn:
            return datasets.plays_per_user(conn, name)

    def top_items(self, name: str, n: int = 20) -> pd.DataFrame:
        """The ``n`` most played items: ``key, name, artist, plays, listeners``.

        Parameters
        ----------
        name
            The data set.
        n
            How many items at most (0 or more).

        Raises
        ------
        ParameterError
            ``n`` is not a whole number of 0 or more.
        DataError
            No data set has this name.
        """
        count = _count_argument("n", n)
        with self._connection() as conn:
            return datasets.top_items(conn, name, count)

    def genre_mix(self, name: str) -> pd.DataFrame:
        """Plays per catalogue genre for a data set's matched items (``genre, plays``)."""
        with self._connection() as conn:
            return datasets.genre_mix(conn, name)

    def friend_pairs(self, name: str) -> pd.DataFrame:
        """Friend pairs (``user_key, friend_key``, as stored: directed) between users who both
        have interactions in data set ``name``; empty when the source has no friend graph."""
        with self._connection() as conn:
            return users.friend_pairs(conn, name)

    def delete_dataset(self, name: str) -> int:
        """Delete a data set and its interactions; returns the interactions removed."""
        with self._connection(transaction=True, operation=f"deleting data set {name!r}") as conn:
            return datasets.delete_dataset(conn, name)

    # -- users of the live connectors -------------------------------------------------------
    def list_users(self, prefix: str = "") -> pd.DataFrame:
        """Users whose key starts with ``prefix`` (``lastfm:``, ``spotify:user:``), by key.

        Returns
        -------
        pandas.DataFrame
            ``key, name, created_at, interactions, datasets`` (comma-separated data set names).
        """
        with self._connection() as conn:
            return users.list_users(conn, prefix)

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
        with self._connection(transaction=True, operation=f"removing user {key!r}") as conn:
            return users.remove_user(conn, key)

    def forget_user(self, key: str, *, dry_run: bool = False) -> dict[str, int]:
        """Delete a person and every row of any table that names them, in one transaction.

        Deleted: the ``users`` row and the rows of every table with a foreign key to it or a
        ``user_key`` column (found in the schema: interactions, user tags, both sides of
        friendships, fetch logs, personality profiles, saved lists, any later table). Kept:
        items, data sets (also those left empty) and model runs with their artifacts. Unlike
        ``remove_user``, a person known only by a profile, log or saved list is forgotten too.
        See ``timbre.store.users.forget_user`` for the counts.

        Parameters
        ----------
        key
            The person's full key (``lastfm:rj``, ``me``).
        dry_run
            Count what would be deleted, then roll back (nothing changes).

        Returns
        -------
        dict
            Rows deleted per table, ``datasets_left_empty`` and ``model_runs_trained_with_user``.

        Raises
        ------
        DataError
            Nothing names ``key``; nothing is deleted.
        """
        return self.forget_users([key], dry_run=dry_run)

    def forget_users(self, keys: Sequence[str], *, dry_run: bool = False) -> dict[str, int]:
        """:meth:`forget_user` for a person's every key (their id and linked accounts) in one
        transaction, counts summed; keys that name nothing are passed over, but when none
        names anything it is a ``DataError`` and nothing changes."""
        total: dict[str, int] = {}
        with self._connection(transaction=not dry_run) as conn:
            errors = []
            for key in dict.fromkeys(keys):
                try:
                    counts = users.forget_user(conn, key)
                except DataError as exc:
                    errors.append(exc)
                    continue
                for table, n in counts.items():
                    total[table] = total.get(table, 0) + n
            if dry_run:
                conn.rollback()
        if not total:
            raise errors[0] if errors else DataError("nobody to forget")
        return total

    def latest_event_ms(self, dataset: str, user_key: str, event: str) -> int | None:
        """The newest timestamp (epoch ms) of a user's ``event`` rows in a data set, or ``None``.

        The live connectors resume a history from here (a missing data set or user is ``None``).

        Raises
        ------
        ParameterError
            ``event`` is not one of ``EVENTS`` (play, top, love, skip).
        """
        if event not in EVENTS:
            raise ParameterError(f"event must be one of {', '.join(EVENTS)}, got {event!r}")
        with self._connection() as conn:
            return users.latest_event_ms(conn, dataset, user_key, event)

    def item_keys_with_tags(self, keys: Iterable[str], kind: str = "tag") -> set[str]:
        """Which of ``keys`` name items that already have tags of ``kind``."""
        with self._connection() as conn:
            return users.item_keys_with_tags(conn, keys, kind)

    # -- logs, profiles, runs ------------------------------------------------------------------
    def add_fetch_log(self, **values: object) -> int:
        """Record one fetch (``user_key, source, kinds, started_at, status, ...``)."""
        with self._connection(transaction=True) as conn:
            return registry.add_fetch_log(conn, values)

    def start_fetch_logs(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Record fetches that start now as ``running`` (``user_key, source, kinds, pid, host``,
        ...), in one transaction that first closes the interrupted ones; their ids.

        Raises
        ------
        StorageError
            The database refused (or stayed busy): nothing is recorded.
        """
        with self._connection(transaction=True) as conn:
            return registry.start_fetch_logs(conn, rows)

    def update_fetch_log(self, log_id: int, **values: object) -> None:
        """Set ``values`` (``status``, ``rows``, ``finished_at``, ...) in one fetch log; its
        ``updated_at`` becomes now (a running fetch's sign of life)."""
        with self._connection(transaction=True) as conn:
            registry.update_fetch_log(conn, log_id, values)

    def close_interrupted_fetch_logs(self) -> int:
        """Record as ``interrupted`` every ``running`` fetch log whose process is gone (see
        ``registry.interruption``); how many."""
        with self._connection(transaction=True) as conn:
            return registry.close_interrupted(conn)

    def list_fetch_logs(self, limit: int = 500) -> pd.DataFrame:
        """Newest fetch logs first, at most ``limit`` of them (a whole number, 0 or more).

        A ``running`` log whose process is gone reads ``interrupted`` (with why in ``error``).

        Raises
        ------
        ParameterError
            A negative or fractional ``limit``.
        """
        count = _count_argument("limit", limit)
        with self._connection() as conn:
            return registry.list_fetch_logs(conn, count)

    def add_profile(
        self,
        user_key: str,
        instrument: str,
        answers: dict[str, Any],
        scores: dict[str, Any],
        percentiles: dict[str, Any],
    ) -> int:
        """Store a personality profile (a retake adds a new row; the latest is used)."""
        values = {
            "user_key": user_key,
            "instrument": instrument,
            "answers": answers,
            "scores": scores,
            "percentiles": percentiles,
        }
        with self._connection(transaction=True) as conn:
            return registry.add_profile(conn, values)

    def list_profiles(self, user_key: str | None = None) -> list[dict[str, Any]]:
        """Profiles, newest first (optionally of one user)."""
        with self._connection() as conn:
            return registry.list_profiles(conn, user_key)

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
        checksum: str | None = None,
    ) -> int:
        """Record a training run (``checksum``: the SHA-256 of its artifact); returns its id."""
        values = {
            "model": model,
            "params": params,
            "dataset": dataset,
            "fingerprint": fingerprint,
            "metrics": metrics or {},
            "duration_s": duration_s,
            "artifact_path": artifact_path,
            "checksum": checksum,
        }
        with self._connection(transaction=True) as conn:
            return registry.add_model_run(conn, values)

    def list_model_runs(self) -> list[dict[str, Any]]:
        """Training runs, newest first."""
        with self._connection() as conn:
            return registry.list_model_runs(conn)

    def set_active_run(self, run_id: int) -> None:
        """Make one run the active model of its data set.

        Raises
        ------
        DataError
            No run has this id.
        """
        with self._connection(transaction=True) as conn:
            registry.set_active_run(conn, run_id)

    def delete_model_run(self, run_id: int) -> str | None:
        """Delete a run (and its saved recommendations); returns its artifact path."""
        with self._connection(transaction=True) as conn:
            return registry.delete_model_run(conn, run_id)

    def save_recommendations(self, run_id: int, rows: Sequence[dict[str, Any]]) -> int:
        """Store ranked recommendations (``user_key, rank, item_key, score, components``)."""
        with self._connection(transaction=True) as conn:
            return registry.save_recommendations(conn, run_id, rows)

    def list_saved_recommendations(self, user_key: str | None = None) -> list[dict[str, Any]]:
        """Saved recommendations (optionally of one user): ``run_id, user_key, rank, item_key,
        score, components``."""
        with self._connection() as conn:
            return registry.list_saved_recommendations(conn, user_key)


def _count_argument(name: str, value: int) -> int:
    """``value`` as a count (a whole number, 0 or more).

    Raises
    ------
    ParameterError
        Naming the argument ``name``, when ``value`` is fractional, not a number or negative.
    """
    try:
        count = operator.index(value)
    except TypeError:
        raise ParameterError(f"{name} must be a whole number, got {value!r}") from None
    if count < 0:
        raise ParameterError(f"{name} must be 0 or more, got {count}")
    return count


def _drop_written(batch: ImportBatch, seen: dict[str, set[str]]) -> None:
    """Leave out of a chunk the items and users an earlier chunk of the import wrote (the
    first one read sets their names, as when the file is read at once); remember the rest."""
    for name in ("items", "users"):
        frame = getattr(batch, name)
        if len(frame):
            keys = frame["key"].astype(str)
            setattr(batch, name, frame[~keys.isin(seen[name])].reset_index(drop=True))
            seen[name].update(keys.unique())


def _fill_counts(report: ImportReport, counts: Mapping[str, WriteCounts]) -> None:
    """Put a write's counts into its report (new, updated and unchanged rows per table)."""
    report.written = {t: c.new for t, c in counts.items() if c.new or t in ALWAYS_REPORTED} | {
        t: 0 for t in ALWAYS_REPORTED if t not in counts
    }
    report.updated = {t: c.updated for t, c in counts.items()}
    report.unchanged = {t: c.unchanged for t, c in counts.items()}
