"""The ``Store``: opens and migrates Timbre's database, then lends a connection to each call."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from timbre.config import Settings
from timbre.errors import StorageError
from timbre.records import ImportBatch, ImportReport
from timbre.store import (
    checks,
    datasets,
    loading,
    locks,
    revisions,
    users,
    writers,
)
from timbre.store.base import count_argument
from timbre.store.people_methods import PeopleMethods
from timbre.store.record_methods import RecordMethods
from timbre.store.schema import current_revision, migrate
from timbre.store.sql import WriteCounts, content_digest, table_counts

log = logging.getLogger(__name__)

#: Tables whose change ``write_batch`` always reports, even when zero rows were added.
ALWAYS_REPORTED = ("interactions", "items", "users")


class Store(PeopleMethods, RecordMethods):
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
        count = count_argument("n", n)
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
