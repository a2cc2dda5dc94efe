"""What a live fetch reports and writes: progress events, per-user results, fetch logs."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from timbre.records import ImportBatch, ImportReport
from timbre.sources.redaction import redact
from timbre.store import Store

FetchStatus = Literal["ok", "partial", "failed"]
#: Longest error text kept in a ``fetch_logs`` row.
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class FetchProgress:
    """One step of a user's fetch, for progress displays (sent from worker threads).

    ``fraction`` is the user's overall progress in ``[0, 1]``; ``result`` is set on the last
    event of a user (``stage == "done"``).
    """

    user: str
    stage: str
    fraction: float
    message: str
    result: FetchResult | None = None


ProgressCallback = Callable[[FetchProgress], None]


@dataclass
class FetchResult:
    """What one user's fetch did: per kind rows fetched and new rows written, status, errors.

    ``status`` is ``ok`` (every kind asked for was fetched and written), ``partial`` (some kinds
    were written, others failed: each written kind is complete, see the README) or ``failed``
    (nothing was written).
    """

    source: str
    user: str
    user_key: str
    kinds: tuple[str, ...]
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    fetched: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    fatal: str | None = None
    retries: int = 0
    log_id: int | None = None
    _clock_start: float = field(default_factory=time.perf_counter, repr=False)
    _end: float | None = field(default=None, repr=False)

    @property
    def rows(self) -> int:
        """New rows written in all tables (a re-fetch of unchanged data writes 0)."""
        return sum(self.written.values())

    @property
    def status(self) -> FetchStatus:
        """``ok``, ``partial`` or ``failed`` (see the class docstring)."""
        if not self.errors and self.fatal is None:
            return "ok"
        return "partial" if self.written else "failed"

    @property
    def duration_s(self) -> float:
        """Seconds from start to finish (so far, while running)."""
        return round(time.perf_counter() - self._clock_start, 3) if self._end is None else self._end

    def finish(self) -> None:
        """Stamp the end time."""
        self.finished_at = datetime.now(UTC)
        self._end = round(time.perf_counter() - self._clock_start, 3)

    @property
    def error(self) -> str | None:
        """One text for the log: the reason that ended the fetch, then each failed kind."""
        parts = [self.fatal] if self.fatal else []
        parts += [f"{kind}: {text}" for kind, text in self.errors.items() if text != self.fatal]
        return "; ".join(parts) or None

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view (CLI ``--json``, the app's tables).

        Returns
        -------
        dict
            Whose fetch it was (``source``, ``user``, ``user_key``, ``kinds``), its outcome
            (``status``, ``rows``, ``fetched``, ``written``, ``duration_s``, ``retries``,
            ``error``, ``notes``) and ``log_id``, in that order; the containers are copies.
        """
        return {
            "source": self.source,
            "user": self.user,
            "user_key": self.user_key,
            "kinds": list(self.kinds),
            "status": self.status,
            "rows": self.rows,
            "fetched": dict(self.fetched),
            "written": dict(self.written),
            "duration_s": self.duration_s,
            "retries": self.retries,
            "error": self.error,
            "notes": list(self.notes),
            "log_id": self.log_id,
        }


_STORE_LOCKS: weakref.WeakKeyDictionary[Store, threading.Lock] = weakref.WeakKeyDictionary()
_STORE_LOCKS_GUARD = threading.Lock()


def store_lock(store: Store) -> threading.Lock:
    """The lock that serialises the live connectors' writes to one store (one per object).

    Fetching runs concurrently; writing does not: SQLite has a single writer (a deferred
    transaction that reads first can fail with "database is locked" instead of waiting), and two
    PostgreSQL transactions upserting the same items in different orders can deadlock.
    """
    with _STORE_LOCKS_GUARD:
        lock = _STORE_LOCKS.get(store)
        if lock is None:
            lock = _STORE_LOCKS[store] = threading.Lock()
        return lock


def write_kind(store: Store, batch: ImportBatch) -> ImportReport:
    """Write one kind's batch in one transaction (serialised per store)."""
    with store_lock(store):
        return store.write_batch(batch)


def new_rows(report: ImportReport) -> int:
    """New rows a written batch added (updates of existing rows are not counted)."""
    return sum(max(0, n) for n in report.written.values())


def log_result(store: Store, result: FetchResult, secrets: Iterable[str] = ()) -> int:
    """Write the ``fetch_logs`` row of one user's fetch; returns its id.

    The error text is redacted of ``secrets`` and cut to ``MAX_ERROR_CHARS``.
    """
    if result.finished_at is None:
        result.finish()
    error = result.error
    if error is not None:
        error = redact(error, secrets)[:MAX_ERROR_CHARS]
    with store_lock(store):
        result.log_id = store.add_fetch_log(
            user_key=result.user_key,
            source=result.source,
            kinds=",".join(result.kinds)[:300],
            started_at=result.started_at,
            finished_at=result.finished_at,
            status=result.status,
            rows=result.rows,
            duration_s=result.duration_s,
            error=error,
        )
    return result.log_id
