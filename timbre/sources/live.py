"""What the live connectors share: rate limit, retry with backoff, fetch logs, redaction.

Last.fm (``timbre/sources/lastfm.py``) and Spotify (``timbre/sources/spotify.py``) fetch through
the same machinery:

- a :class:`RateLimiter` shared by every thread of a run spaces requests at least ``1 / rate``
  seconds apart (measured at the server in the tests);
- :func:`call_with_retry` retries what a :class:`Failure` calls transient with exponential backoff
  and jitter (or the server's ``Retry-After``) and gives up with a message a person understands;
- one transaction per batch (``Store.write_batch``), serialised per store by :func:`store_lock`
  so that concurrent users never race on SQLite's single writer or on shared item rows;
- a :class:`FetchResult` per user and one ``fetch_logs`` row for it (:func:`log_result`);
- secrets never reach a log line, an error text or the database (:func:`redact`,
  :func:`install_log_redaction`).
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, TypeVar

from timbre.errors import DataError, ParameterError, SourceError
from timbre.records import ImportBatch, ImportReport
from timbre.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")
FetchStatus = Literal["ok", "partial", "failed"]
FailureKind = Literal["retry", "user", "run", "skip"]
#: Longest error text kept in a ``fetch_logs`` row.
MAX_ERROR_CHARS = 2000


# --- errors -----------------------------------------------------------------------------------
class UserFetchError(SourceError):
    """Ends one user's fetch (unknown user, private history, ...); the other users carry on."""


class RunRefused(SourceError):
    """Ends the whole run: the service refused the credentials (invalid or suspended key)."""


class GaveUp(SourceError):
    """A transient failure persisted through every retry."""


class ItemSkipped(SourceError):
    """One item's request failed for good (e.g. an artist Last.fm does not know); skip it."""


class Cancelled(SourceError):
    """The run was cancelled (Ctrl-C, a stopped page); what was written so far stays."""


@dataclass(frozen=True)
class Failure:
    """How to treat one failed request.

    Attributes
    ----------
    kind
        ``retry`` (transient: rate limit, temporary error, 5xx, network, malformed body),
        ``user`` (ends this user's fetch), ``run`` (ends every user's fetch: the credentials are
        refused) or ``skip`` (this item only).
    message
        What a person reads (no secrets; the caller redacts anyway).
    wait
        Seconds the server asked to wait (``Retry-After``), used instead of the backoff.
    """

    kind: FailureKind
    message: str
    wait: float | None = None


# --- rate limit -------------------------------------------------------------------------------
class RateLimiter:
    """Space requests at least ``1 / rate`` seconds apart, across all threads that share it.

    A token bucket of capacity one: each caller reserves the next free slot under a lock and
    sleeps until it outside the lock, so ``n`` requests never take less than ``(n - 1) / rate``
    seconds however many threads send them.

    Parameters
    ----------
    rate
        Requests per second (> 0).
    clock, sleep
        Injectable for tests.

    Examples
    --------
    >>> limiter = RateLimiter(1000.0)
    >>> limiter.acquire(); limiter.acquire()
    >>> limiter.requests
    2
    """

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ParameterError(
                f"rate must be a positive number of requests per second, got {rate}"
            )
        self.rate = float(rate)
        self.interval = 1.0 / self.rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0
        self.requests = 0

    def acquire(self, cancel: threading.Event | None = None) -> None:
        """Wait for the next free slot; raises :class:`Cancelled` if ``cancel`` is set."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
            self.requests += 1
        wait = slot - now
        if cancel is not None:
            if cancel.wait(wait) if wait > 0 else cancel.is_set():
                raise Cancelled("cancelled")
        elif wait > 0:
            self._sleep(wait)


# --- retry ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter.

    Attempt ``n`` (1-based) that failed transiently waits
    ``min(max_delay, base_delay * 2 ** (n - 1)) * (1 - jitter * u)`` with ``u`` uniform in
    ``[0, 1)``, or the server's ``Retry-After`` when it gave one (up to ``max_wait``).

    Parameters
    ----------
    attempts
        Tries in all (1 = no retry).
    base_delay, max_delay
        Seconds; tests use small values so that nothing sleeps for long.
    jitter
        Share of each delay drawn at random, so that threads that failed together do not retry
        together.
    max_wait
        Longest ``Retry-After`` honoured; a longer one gives up with a "try later" message.
    """

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    jitter: float = 0.5
    max_wait: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ParameterError(f"attempts must be at least 1, got {self.attempts}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ParameterError("base_delay and max_delay must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ParameterError(f"jitter must be within [0, 1], got {self.jitter}")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        raw = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return raw * (1.0 - self.jitter * rng.random())


def call_with_retry(
    call: Callable[[], T],
    classify: Callable[[Exception], Failure],
    policy: RetryPolicy,
    *,
    what: str,
    sleep: Callable[[float], object] = time.sleep,
    rng: random.Random | None = None,
    cancel: threading.Event | None = None,
    on_retry: Callable[[int, Failure, float], None] | None = None,
) -> T:
    """Run ``call``, retrying transient failures as ``policy`` says.

    Parameters
    ----------
    call
        One request (one HTTP round trip, one page).
    classify
        Maps an exception to a :class:`Failure`; exceptions it does not know should be
        re-raised by it (programming errors are never retried).
    what
        Names the request in messages (``"top tracks of rj, page 2"``).
    sleep
        Waits between attempts (``cancel.wait`` makes the wait end early on cancellation).
    on_retry
        Told ``(attempt, failure, delay)`` before each wait.

    Raises
    ------
    UserFetchError, RunRefused, ItemSkipped
        For failures classified ``user``, ``run`` and ``skip``.
    GaveUp
        The last attempt failed transiently too.
    Cancelled
        ``cancel`` was set while waiting.
    """
    rng = rng or random.Random()
    attempt = 0
    while True:
        attempt += 1
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        try:
            return call()
        except (Cancelled, UserFetchError, RunRefused, ItemSkipped, GaveUp):
            raise
        except Exception as exc:
            failure = classify(exc)
        if failure.kind == "user":
            raise UserFetchError(failure.message) from None
        if failure.kind == "run":
            raise RunRefused(failure.message) from None
        if failure.kind == "skip":
            raise ItemSkipped(failure.message) from None
        if failure.wait is not None and failure.wait > policy.max_wait:
            raise GaveUp(
                f"{what}: the service asks to wait {failure.wait:.0f} s ({failure.message}); "
                "try again later"
            )
        if attempt >= policy.attempts:
            raise GaveUp(
                f"{what}: gave up after {attempt} attempt{'s' if attempt > 1 else ''} "
                f"({failure.message})"
            )
        delay = failure.wait if failure.wait is not None else policy.delay(attempt, rng)
        if on_retry is not None:
            on_retry(attempt, failure, delay)
        log.info("%s: %s; retry %d in %.2f s", what, failure.message, attempt, delay)
        sleep(delay)
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")


# --- results and logs -------------------------------------------------------------------------
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
        """A JSON-ready view (CLI ``--json``, the app's tables)."""
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


# --- secrets ----------------------------------------------------------------------------------
def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (of at least 4 characters) replaced by ``***``.

    Examples
    --------
    >>> redact("key abc123 refused", ["abc123"])
    'key *** refused'
    """
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


_SECRET_PATTERNS = (
    # "Authorization": "Bearer <token>" in header dumps
    re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+"),
    # token, verifier, code and key values in dict reprs and form bodies
    re.compile(
        r"""(\b['"]?(?:access_token|refresh_token|code_verifier|code|api_key|api_sig|sk)['"]?"""
        r"""\s*[:=]\s*['"]?)[^'",&\s}<]{8,}"""
    ),
)


class RedactSecrets(logging.Filter):
    """A logging filter that masks secrets in a record: bearer tokens, OAuth codes and API keys
    by their shape, and every value registered with :meth:`add` wherever it appears.

    Installed on the client libraries' loggers, which print request headers, bodies or whole
    responses at DEBUG level (spotipy prints ``Authorization: Bearer ...``; pylast prints each
    response, which could repeat the key), and on Timbre's connector loggers.
    """

    def __init__(self) -> None:
        super().__init__()
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: str) -> None:
        """Mask these values from now on (values shorter than 4 characters are ignored)."""
        with self._lock:
            self._values.update(v for v in values if v and len(v) >= 4)

    def mask(self, text: str) -> str:
        """``text`` with every registered value and every secret-shaped token masked."""
        with self._lock:
            values = tuple(self._values)
        masked = redact(text, values)
        for pattern in _SECRET_PATTERNS:
            masked = pattern.sub(r"\1***", masked)
        return masked

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix; let logging report it
            return True
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_LOGGERS_TO_REDACT = (
    "timbre.sources.live",
    "timbre.sources.lastfm",
    "timbre.sources.spotify",
    "spotipy",
    "spotipy.client",
    "spotipy.oauth2",
    "spotipy.util",
    "spotipy.cache_handler",
    "pylast",
    "httpx2",
    "httpcore2",
    "urllib3.connectionpool",
)
_REDACTOR = RedactSecrets()


def install_log_redaction(*secrets: str) -> None:
    """Attach :class:`RedactSecrets` to the client libraries' loggers (idempotent) and mask
    ``secrets`` in their records from now on."""
    _REDACTOR.add(*secrets)
    for name in _LOGGERS_TO_REDACT:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


def parse_kinds(
    text: str | Iterable[str] | None,
    known: tuple[str, ...],
    defaults: tuple[str, ...],
    source: str,
) -> tuple[str, ...]:
    """Kinds from ``"a,b"`` or a list, in ``known`` order; ``None`` means ``defaults``.

    Raises
    ------
    DataError
        An unknown kind (the message names the source and lists the known ones), or none.
    """
    if text is None:
        return defaults
    parts = text.split(",") if isinstance(text, str) else list(text)
    wanted = {p.strip() for p in parts if p and p.strip()}
    unknown = sorted(wanted - set(known))
    if unknown:
        raise DataError(f"unknown {source} kind(s) {unknown}; choose from {', '.join(known)}")
    if not wanted:
        raise DataError(f"choose at least one kind: {', '.join(known)}")
    return tuple(k for k in known if k in wanted)
