"""What a live fetch reports and writes: progress events, per-user results, fetch logs."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from timbre.errors import TimbreError
from timbre.records import ImportBatch, ImportReport
from timbre.sources.redaction import redact
from timbre.store import Store
from timbre.store.locks import DatabaseBusy, this_process

log = logging.getLogger(__name__)

FetchStatus = Literal["ok", "partial", "failed"]
#: Longest error text kept in a ``fetch_logs`` row.
MAX_ERROR_CHARS = 2000
#: How long closing a fetch's log row keeps waiting for a busy database (seconds, in all).
CLOSE_WAIT_S = 60.0


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

    def restart(self) -> None:
        """Stamp the start time anew (a queued user's fetch starts when a worker takes it)."""
        self.started_at = datetime.now(UTC)
        self._clock_start = time.perf_counter()

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
    into = f" into data set {batch.dataset!r}" if batch.dataset else ""
    with store_lock(store):
        return store.write_batch(batch, operation=f"writing fetched {batch.source} data{into}")


def new_rows(report: ImportReport) -> int:
    """New rows a written batch added (updates of existing rows are not counted)."""
    return sum(max(0, n) for n in report.written.values())


def open_logs(store: Store, results: Sequence[FetchResult]) -> None:
    """Write the ``fetch_logs`` rows of fetches about to start, as ``running``, in one
    transaction (which first records the interrupted ones of earlier runs); sets ``log_id``.

    Raises
    ------
    StorageError
        The database refused or stayed busy: no row is written and nothing should be fetched.
    """
    pid, host = this_process()
    rows = [
        {
            "user_key": r.user_key,
            "source": r.source,
            "kinds": ",".join(r.kinds)[:300],
            "started_at": r.started_at,
            "pid": pid,
            "host": host,
        }
        for r in results
    ]
    with store_lock(store):
        ids = store.start_fetch_logs(rows)
    for result, ident in zip(results, ids, strict=True):
        result.log_id = ident


def heartbeat(store: Store, result: FetchResult) -> None:
    """Tell the fetch's ``running`` log row how far it got (rows so far; a sign of life)."""
    if result.log_id is None:
        return
    try:
        with store_lock(store):
            store.update_fetch_log(result.log_id, rows=result.rows)
    except TimbreError as exc:  # only a sign of life: the closing update says it all
        log.warning("could not update the fetch log of %s: %s", result.user_key, exc)


def log_result(store: Store, result: FetchResult, secrets: Iterable[str] = ()) -> int:
    """Close (or, for a fetch never opened, write) the ``fetch_logs`` row of one user's fetch;
    returns its id.

    The error text is redacted of ``secrets`` and cut to ``MAX_ERROR_CHARS``. A busy database
    is waited for up to ``CLOSE_WAIT_S`` seconds, so that a fetch keeps its outcome when an
    import holds the database meanwhile.

    Raises
    ------
    StorageError
        The database refused the row, or stayed busy all that time (an opened row then stays
        ``running`` and reads ``interrupted`` once this process has ended).
    """
    if result.finished_at is None:
        result.finish()
    error = result.error
    if error is not None:
        error = redact(error, secrets)[:MAX_ERROR_CHARS]
    values = {
        "user_key": result.user_key,
        "source": result.source,
        "kinds": ",".join(result.kinds)[:300],
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "status": result.status,
        "rows": result.rows,
        "duration_s": result.duration_s,
        "error": error,
    }
    deadline = time.monotonic() + CLOSE_WAIT_S
    while True:
        try:
            with store_lock(store):
                if result.log_id is None:
                    result.log_id = store.add_fetch_log(**values)
                else:
                    store.update_fetch_log(result.log_id, **values)
            return result.log_id
        except DatabaseBusy:
            if time.monotonic() >= deadline:
                raise
            log.info("the database is busy; waiting to close the fetch log of %s", result.user_key)
            time.sleep(0.5)
