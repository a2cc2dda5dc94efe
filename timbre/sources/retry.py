"""How a live request is paced and retried: rate limit, backoff, failures, the client base."""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Literal, Self, TypedDict, TypeVar

from timbre.errors import ParameterError, SourceError
from timbre.sources.redaction import redact

log = logging.getLogger(__name__)

T = TypeVar("T")
N = TypeVar("N", int, float)
FailureKind = Literal["retry", "user", "run", "skip"]


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


class Malformed(Exception):
    """An answer that parsed but lacks what the request always returns (retried as transient)."""


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


# --- option bounds ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Bounds:
    """The range a number option must lie in (NaN never is).

    ``low <= value <= high``, or ``low < value`` when ``strict``; without ``high``, no upper end.

    Examples
    --------
    >>> Bounds(1).check("workers", 4)
    >>> Bounds(0, strict=True).check("rate", 0)
    Traceback (most recent call last):
    ...
    timbre.errors.ParameterError: rate must be positive, got 0
    """

    low: float
    high: float | None = None
    strict: bool = False

    def check(self, name: str, value: float) -> None:
        """Raise :class:`~timbre.errors.ParameterError` naming ``name`` when ``value`` is out."""
        above = value > self.low if self.strict else value >= self.low
        if above and (self.high is None or value <= self.high):
            return
        if self.high is not None:
            wanted = f"be within [{self.low:g}, {self.high:g}]"
        elif self.low == 0:
            wanted = "be positive" if self.strict else "not be negative"
        else:
            wanted = f"be {'above' if self.strict else 'at least'} {self.low:g}"
        raise ParameterError(f"{name} must {wanted}, got {value}")


def bounded(default: N, low: float, high: float | None = None, *, strict: bool = False) -> N:
    """A field of :class:`CheckedOptions` with a default and the :class:`Bounds` it must keep."""
    return field(default=default, metadata={"bounds": Bounds(low, high, strict)})


@dataclass(frozen=True)
class CheckedOptions:
    """Frozen options whose :func:`bounded` fields are checked, in field order, when made.

    Raises
    ------
    ParameterError
        The first field out of its bounds, by name.
    """

    def __post_init__(self) -> None:
        for option in fields(self):
            if "bounds" in option.metadata:
                option.metadata["bounds"].check(option.name, getattr(self, option.name))


# --- rate limit -------------------------------------------------------------------------------
class RateLimiter:
    """Space requests at least ``1 / rate`` seconds apart, across all threads that share it.

    A slot is taken at the moment the caller goes ahead (the request is sent right after),
    never reserved for later: a caller whose slot is not free yet sleeps and asks again. A
    thread that wakes late (a busy interpreter, a slow TLS handshake before the request) then
    pushes the next slot back instead of leaving it where a reservation made it, so requests
    that go out late never bunch up with the ones after them. Any ``n`` requests therefore span
    at least ``(n - 1) / rate`` seconds between the moments they were let through, and no
    1-second window holds more than ``ceil(rate)`` of them.

    Parameters
    ----------
    rate
        Requests per second (> 0).
    clock, sleep
        Injectable for tests (``sleep`` is only used without a ``cancel`` event).

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
        Bounds(0, strict=True).check("rate", rate)
        self.rate = float(rate)
        self.interval = 1.0 / self.rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = -math.inf
        self.requests = 0

    def try_acquire(self) -> float:
        """Take the slot if it is free now (``0.0``); otherwise the seconds until it is."""
        with self._lock:
            now = self._clock()
            if now < self._next:
                return self._next - now
            self._next = now + self.interval
            self.requests += 1
            return 0.0

    def acquire(self, cancel: threading.Event | None = None) -> None:
        """Wait until a slot is free and take it; raises :class:`Cancelled` if ``cancel`` is
        set meanwhile."""
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
            wait = self.try_acquire()
            if wait <= 0:
                return
            if cancel is not None:
                if cancel.wait(wait):
                    raise Cancelled("cancelled")
            else:
                self._sleep(wait)


# --- retry ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy(CheckedOptions):
    """Exponential backoff with jitter.

    Attempt ``n`` (1-based) that failed transiently waits
    ``min(max_delay, base_delay * 2 ** (n - 1)) * (1 - jitter * u)`` with ``u`` uniform in
    ``[0, 1)``, or the server's ``Retry-After`` when it gave one (up to ``max_wait``).

    Parameters
    ----------
    attempts
        Tries in all (1 = no retry).
    base_delay, max_delay
        Seconds (not negative); tests use small values so that nothing sleeps for long.
    jitter
        Share of each delay drawn at random (within ``[0, 1]``), so that threads that failed
        together do not retry together.
    max_wait
        Longest ``Retry-After`` honoured; a longer one gives up with a "try later" message.

    Raises
    ------
    ParameterError
        An attempt count, delay or jitter out of range.
    """

    attempts: int = bounded(5, 1)
    base_delay: float = bounded(1.0, 0)
    max_delay: float = bounded(30.0, 0)
    jitter: float = bounded(0.5, 0, 1)
    max_wait: float = 120.0

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


# --- the client base ----------------------------------------------------------------------------
class ClientHooks(TypedDict, total=False):
    """What a live client passes on to :class:`LiveClient` unchanged (see its parameters)."""

    limiter: RateLimiter | None
    sleep: Callable[[float], object] | None
    rng: random.Random | None
    cancel: threading.Event | None


class LiveClient:
    """What the live clients share: the rate limiter, cancellation, retries, masked failures.

    A subclass speaks one service; :meth:`request` runs one of its requests under the retry
    policy, with the failure texts redacted of :attr:`secrets` and every retry counted (in all
    and per thread: a worker fetches one user at a time). A subclass takes ``limiter``,
    ``sleep``, ``rng`` and ``cancel`` as ``**hooks: Unpack[ClientHooks]`` and passes them on.

    Parameters
    ----------
    retry
        The backoff policy.
    rate
        Requests per second, when no ``limiter`` is given.
    limiter
        Shared rate limiter (one is made from ``rate`` when omitted).
    sleep, rng
        Backoff sleep (default: waiting on ``cancel``) and jitter source (injectable for tests).
    cancel
        Set it to stop: waiting requests raise ``Cancelled``.
    """

    def __init__(
        self,
        retry: RetryPolicy,
        rate: float,
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], object] | None = None,
        rng: random.Random | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.retry = retry
        self.limiter = limiter or RateLimiter(rate)
        self.cancel = cancel or threading.Event()
        self._sleep = sleep or self.cancel.wait
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self.retries = 0
        self._count_lock = threading.Lock()
        self._local = threading.local()

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never appear in a log, an error text or the store."""
        return ()

    @property
    def thread_retries(self) -> int:
        """Retries made by the calling thread (a worker fetches one user at a time)."""
        return int(getattr(self._local, "retries", 0))

    def close(self) -> None:
        """Release the client's connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self, once: Callable[[], T], classify: Callable[[Exception], Failure], *, what: str
    ) -> T:
        """Run ``once`` (one request) under the retry policy; see ``call_with_retry``.

        Parameters
        ----------
        once
            Sends the request and returns its parsed answer.
        classify
            The service's sorting of a failure (its message is redacted here).
        what
            Names the request in messages (``"top tracks of rj, page 2"``).

        Returns
        -------
        object
            What ``once`` returned.
        """
        with self._rng_lock:  # one jitter source per request: the workers share the client
            rng = random.Random(self._rng.random())
        return call_with_retry(
            once,
            lambda exc: self._masked(classify(exc)),
            self.retry,
            what=what,
            sleep=self._sleep,
            rng=rng,
            cancel=self.cancel,
            on_retry=self._count_retry,
        )

    def _masked(self, failure: Failure) -> Failure:
        return Failure(failure.kind, redact(failure.message, self.secrets), failure.wait)

    def _count_retry(self, attempt: int, failure: Failure, delay: float) -> None:
        with self._count_lock:
            self.retries += 1
        self._local.retries = self.thread_retries + 1
