"""The shared live fetcher: each source's kinds run as a table, one transaction per kind.

Last.fm (``timbre/sources/lastfm.py``) and Spotify (``timbre/sources/spotify.py``) declare what
they fetch per user as a table of :class:`Kind` rows and subclass :class:`LiveFetcher`, which runs
them the same way:

- a :class:`~timbre.sources.retry.RateLimiter` shared by every thread of a run spaces requests at
  least ``1 / rate`` seconds apart (measured at the server in the tests);
- :func:`~timbre.sources.retry.call_with_retry` retries what a
  :class:`~timbre.sources.retry.Failure` calls transient with exponential backoff and jitter (or
  the server's ``Retry-After``) and gives up with a message a person understands;
- one transaction per kind (``write_kind``), serialised per store so that concurrent users never
  race on SQLite's single writer or on shared item rows; a *checkpointed* kind (Last.fm's
  history) is written every few pages instead, and what it read before a failure is kept;
- a :class:`~timbre.sources.results.FetchResult` per user and one ``fetch_logs`` row for it,
  written as ``running`` before anything is fetched (``open_logs``, for every user of a run in
  one transaction: a busy database stops the run before it starts), updated after each kind
  (``heartbeat``) and closed at the end (``log_result``), with progress events along the way
  and cancellation at the next request;
- secrets never reach a log line, an error text or the database
  (:mod:`timbre.sources.redaction`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import pandas as pd

from timbre.errors import DataError, TimbreError
from timbre.records import Event, ImportBatch, ImportReport
from timbre.sources.redaction import RedactSecrets, install_log_redaction, redact
from timbre.sources.results import (
    MAX_ERROR_CHARS,
    FetchProgress,
    FetchResult,
    FetchStatus,
    ProgressCallback,
    heartbeat,
    log_result,
    new_rows,
    open_logs,
    store_lock,
    write_kind,
)
from timbre.sources.retry import (
    Cancelled,
    Failure,
    FailureKind,
    GaveUp,
    ItemSkipped,
    LiveClient,
    RateLimiter,
    RetryPolicy,
    RunRefused,
    UserFetchError,
    call_with_retry,
)
from timbre.store import Store

__all__ = [
    "MAX_ERROR_CHARS",
    "Cancelled",
    "Failure",
    "FailureKind",
    "FetchProgress",
    "FetchResult",
    "FetchStatus",
    "GaveUp",
    "ItemSkipped",
    "Kind",
    "Listener",
    "LiveClient",
    "LiveFetcher",
    "ProgressCallback",
    "RateLimiter",
    "RedactSecrets",
    "RetryPolicy",
    "Rows",
    "Run",
    "RunRefused",
    "Step",
    "UserFetchError",
    "call_with_retry",
    "install_log_redaction",
    "interaction_frame",
    "log_result",
    "new_rows",
    "open_logs",
    "parse_kinds",
    "redact",
    "store_lock",
    "write_kind",
]

log = logging.getLogger(__name__)

P = TypeVar("P")
#: Progress within one stage: ``step(fraction in [0, 1], message)``.
Step = Callable[[float, str], None]
#: What ends a checkpointed kind early but keeps the pages it read (they are contiguous).
_KEEPS_PAGES = (GaveUp, UserFetchError, Cancelled, RunRefused)


class Listener(Protocol):
    """A source's state for one user's fetch: at least whose it is (the store's user row)."""

    @property
    def user_key(self) -> str:
        """The store key of the user (``lastfm:rj``, ``spotify:user:<id>``)."""
        ...

    @property
    def display(self) -> str:
        """The name the service shows for the user."""
        ...


U = TypeVar("U", bound=Listener)


# --- the kind table ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Rows:
    """What a kind made of the pages it read: the frames of one transaction and what to tell.

    Attributes
    ----------
    fetched
        Rows the service gave that this transaction stands for (``FetchResult.fetched``).
    items
        ``key, kind, name, artist, link_key``; ``None`` means there is nothing to write.
    interactions, tags, features
        The batch's other frames (``None``: none).
    with_user
        Write the user's row too (not for batches that only describe items, like tags).
    note
        A remark for the result (``FetchResult.notes``), e.g. why nothing was asked for.
    failure
        The kind failed after this was written (some items gave up): the kind's error text.
    """

    fetched: int
    items: pd.DataFrame | None = None
    interactions: pd.DataFrame | None = None
    tags: pd.DataFrame | None = None
    features: pd.DataFrame | None = None
    with_user: bool = True
    note: str | None = None
    failure: str | None = None


@dataclass(frozen=True)
class Kind(Generic[U, P]):
    """One kind of data a source fetches per user: a row of the source's kind table.

    Attributes
    ----------
    name
        What a person asks for (``top-tracks``, ``history``).
    dataset
        The data set its interactions go to (``""``: none, e.g. tags or audio features).
    read
        What it fetches and how it pages: ``read(user, step)`` yields one page (the parsed
        answer of one request) at a time, in the order the pages are to be written, and reports
        progress through ``step``.
    rows
        How pages become a batch: ``rows(user, pages, report)`` parses the pages, counts what
        it reads and drops in ``report`` and returns the frames of one transaction.
    checkpoint
        ``None``: the kind is written in one transaction once it is complete, or not at all.
        Otherwise every ``checkpoint(user)`` pages are written in one transaction, and the pages
        read before a failure are written before the failure is reported: a resumable kind.
    """

    name: str
    dataset: str
    read: Callable[[U, Step], Iterable[P]]
    rows: Callable[[U, Sequence[P], ImportReport], Rows]
    checkpoint: Callable[[U], int] | None = None


@dataclass
class Run:
    """State shared by the users of one run: why it was aborted, and work a user claimed.

    ``claim`` hands each key to the first user that asks for it, so that concurrent users never
    fetch the same thing twice (Last.fm's tags of an item both users listen to).
    """

    abort: str | None = None
    claimed: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def claim(self, keys: Sequence[str]) -> list[str]:
        """The ``keys`` no other user of the run has claimed, claimed now for the caller.

        Parameters
        ----------
        keys
            Work the caller is about to do.

        Returns
        -------
        list of str
            The keys that are the caller's, in the order given.

        Examples
        --------
        >>> run = Run()
        >>> run.claim(["a", "b"]), run.claim(["b", "c"])
        (['a', 'b'], ['c'])
        """
        with self.lock:
            fresh = [k for k in keys if k not in self.claimed]
            self.claimed.update(fresh)
        return fresh


def parse_kinds(
    text: str | Iterable[str] | None,
    known: tuple[str, ...],
    defaults: tuple[str, ...],
    source: str,
) -> tuple[str, ...]:
    """Kinds from ``"a,b"`` or a list, in ``known`` order; ``None`` means ``defaults``.

    Parameters
    ----------
    text
        What a person asked for.
    known, defaults
        The source's kinds in fetch order, and those fetched when none are named.
    source
        The source's name for messages (``Last.fm``).

    Returns
    -------
    tuple of str
        The chosen kinds in ``known`` order.

    Raises
    ------
    DataError
        An unknown kind (the message names the source and lists the known ones), or none.

    Examples
    --------
    >>> parse_kinds("b, a", ("a", "b", "c"), ("a",), "Demo")
    ('a', 'b')
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


def interaction_frame(
    user_key: str,
    items: Sequence[str] | pd.Series,
    event: Event,
    weights: Sequence[float] | pd.Series,
    timestamps: pd.Series | None = None,
) -> pd.DataFrame:
    """One user's interactions with ``items`` as an ``ImportBatch.interactions`` frame.

    Parameters
    ----------
    user_key
        Whose interactions they are.
    items, weights
        Item keys and their weights, one each per interaction.
    event
        ``play``, ``top``, ``love`` or ``skip``.
    timestamps
        When each happened (UTC); ``None``: aggregated, no time (``NaT``).

    Returns
    -------
    pandas.DataFrame
        ``user_key, item_key, event, weight, timestamp``.
    """
    keys = list(items)
    stamps = (
        pd.to_datetime(timestamps, utc=True).to_numpy()
        if timestamps is not None
        else pd.Series(pd.NaT, index=range(len(keys)), dtype="datetime64[ns, UTC]").to_numpy()
    )
    return pd.DataFrame(
        {
            "user_key": [user_key] * len(keys),
            "item_key": keys,
            "event": [event] * len(keys),
            "weight": [float(w) for w in weights],
            "timestamp": stamps,
        }
    )


C = TypeVar("C", bound=LiveClient)


# --- the fetcher ------------------------------------------------------------------------------
class LiveFetcher(Generic[C, U]):
    """Run a source's kind table for users: one transaction per kind, one log row per user.

    A source subclasses it with its kind table (``kinds``), its names and two hooks:
    :meth:`identify` (whose fetch a name starts) and :meth:`open_user` (read the profile, make
    the per-user state the kinds read from).

    Failures end as little as they must: a failed kind is recorded and the next one runs; a
    failure that ends the user (unknown user, private profile, a refused token; see
    :meth:`ends_fetch`) stops that user; refused credentials stop every user of the run; a
    cancelled run stops at the next request. What was written stays, and every user's result
    is logged, even when a bug ends the fetch (it is re-raised after).

    Parameters
    ----------
    store
        Where batches and fetch logs go.
    client
        The source's client (its limiter is shared by every worker).
    """

    #: ``fetch_logs.source`` and ``ImportBatch.source``.
    source: ClassVar[str]
    #: The service's name in messages.
    label: ClassVar[str]
    #: The kind table, in fetch order.
    kinds: ClassVar[tuple[Kind[Any, Any], ...]]
    #: The kinds fetched when none are named.
    default_kinds: ClassVar[tuple[str, ...]]

    def __init__(self, store: Store, client: C) -> None:
        self.store = store
        self.client = client

    # -- what a source says ------------------------------------------------------------------
    def identify(self, name: str) -> tuple[str, str]:
        """``(user, user_key)`` of the fetch ``name`` starts (before the profile is read)."""
        raise NotImplementedError

    def open_user(self, result: FetchResult, run: Run, step: Step) -> U:
        """Read the user's profile; the state the kinds read from.

        Raises
        ------
        UserFetchError, RunRefused, GaveUp, Cancelled
            The fetch of this user cannot start (logged as its fatal error).
        """
        raise NotImplementedError

    def ends_fetch(self, exc: UserFetchError) -> bool:
        """Whether a kind's ``UserFetchError`` ends the user's fetch (default) or only the kind."""
        return True

    # -- running -----------------------------------------------------------------------------
    def parse_kinds(self, kinds: str | Iterable[str] | None) -> tuple[str, ...]:
        """The kinds asked for, in table order (``None``: :attr:`default_kinds`)."""
        names = tuple(kind.name for kind in self.kinds)
        return parse_kinds(kinds, names, self.default_kinds, self.label)

    def fetch_many(
        self,
        names: Sequence[str],
        kinds: str | Iterable[str] | None,
        progress: ProgressCallback | None,
        workers: int,
    ) -> list[FetchResult]:
        """Fetch several users on ``workers`` threads; results in the order of ``names``.

        One user's failure never stops the others; refused credentials end every user's fetch
        (each logged as failed with that reason). An interrupt (Ctrl-C) cancels: users stop at
        their next request, what they wrote stays, each is logged, and the interrupt is
        re-raised.
        """
        results = [self._new_result(name, kinds) for name in names]
        open_logs(self.store, results)
        run = Run()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=self.source) as pool:
            futures = [pool.submit(self._fetch, result, progress, run) for result in results]
            try:
                wait_all(futures)
            except BaseException:
                self.client.cancel.set()
                wait_all(futures)
                raise
            return [f.result() for f in futures]

    def fetch_user(
        self,
        name: str,
        kinds: str | Iterable[str] | None = None,
        progress: ProgressCallback | None = None,
        run: Run | None = None,
    ) -> FetchResult:
        """Fetch one user's ``kinds`` (each in its own transaction) and log the result.

        A failed kind is recorded and the next kind runs; a failure that ends the user (see
        :meth:`ends_fetch`) or the whole run stops this user's fetch. The log row is written
        even when a bug ends the fetch, and the bug is re-raised after.

        Parameters
        ----------
        name
            Whose fetch (as the source names users).
        kinds
            Kind names, ``"a,b"``, or ``None`` for :attr:`default_kinds`.
        progress
            Told each step, from the worker's thread; the last event carries the result.
        run
            The run this user is part of (a run of one when omitted).

        Returns
        -------
        FetchResult
            What was fetched and written, with its status and log id.

        Raises
        ------
        DataError
            A name or kind the source does not know (nothing is fetched).
        StorageError
            The log row cannot be written (e.g. the database stays busy): nothing is fetched.
        """
        result = self._new_result(name, kinds)
        open_logs(self.store, [result])
        return self._fetch(result, progress, run or Run())

    def _new_result(self, name: str, kinds: str | Iterable[str] | None) -> FetchResult:
        """The result of a fetch about to start (raises ``DataError`` for a bad name or kind)."""
        user, key = self.identify(name)
        chosen = self.parse_kinds(kinds)
        return FetchResult(source=self.source, user=user, user_key=key, kinds=chosen)

    def _fetch(
        self, result: FetchResult, progress: ProgressCallback | None, run: Run
    ) -> FetchResult:
        """Run one user's fetch whose log row is open, and close the row."""
        result.restart()
        chosen = result.kinds

        def report(stage: str, done: float, message: str) -> None:
            if progress is not None:
                fraction = min(1.0, max(0.0, done / (len(chosen) + 1)))
                progress(FetchProgress(result.user, stage, fraction, message))

        retries_before = self.client.thread_retries
        try:
            self._run_user(result, run, report)
        except Exception as exc:  # a bug must not lose the log row; it is re-raised after
            result.fatal = result.fatal or f"internal error: {type(exc).__name__}: {exc}"
            raise
        finally:
            result.retries = self.client.thread_retries - retries_before
            self._finish(result, progress)
        return result

    def _finish(self, result: FetchResult, progress: ProgressCallback | None) -> None:
        result.finish()
        try:
            log_result(self.store, result, self.client.secrets)
        except TimbreError as exc:
            log.warning("could not write the fetch log of %s: %s", result.user_key, exc)
        if progress is not None:
            message = result.error or f"{result.rows:,} new rows"
            progress(FetchProgress(result.user, "done", 1.0, message, result))

    def _run_user(
        self, result: FetchResult, run: Run, report: Callable[[str, float, str], None]
    ) -> None:
        if run.abort:
            result.fatal = run.abort
            return
        try:
            user = self.open_user(result, run, lambda done, text: report("profile", done, text))
        except RunRefused as exc:
            result.fatal = run.abort = str(exc)
            return
        except (UserFetchError, GaveUp, Cancelled) as exc:
            result.fatal = str(exc) or type(exc).__name__
            return
        table = {kind.name: kind for kind in self.kinds}
        for position, name in enumerate(result.kinds, start=1):
            if run.abort:
                result.fatal = run.abort
                break

            def step(fraction: float, message: str, _p: int = position, _k: str = name) -> None:
                report(_k, _p - 1 + fraction, message)

            step(0.0, f"{name}: starting")
            try:
                self._run_kind(table[name], user, step, result)
            except UserFetchError as exc:
                result.errors[name] = str(exc)
                if self.ends_fetch(exc):
                    result.fatal = str(exc)
                    break
            except RunRefused as exc:
                result.errors[name] = result.fatal = run.abort = str(exc)
                break
            except Cancelled:
                result.errors[name] = result.fatal = "cancelled before it finished"
                break
            except TimbreError as exc:  # gave up, bad data, or the store refused the batch
                result.errors[name] = str(exc)

    def _run_kind(self, kind: Kind[U, Any], user: U, step: Step, result: FetchResult) -> None:
        every = kind.checkpoint(user) if kind.checkpoint is not None else None
        pages: list[Any] = []
        try:
            for count, page in enumerate(kind.read(user, step), start=1):
                pages.append(page)
                if every is not None and count % every == 0:
                    self._write(kind, user, pages, result)
                    pages = []
        except _KEEPS_PAGES:
            if every is not None and pages:  # read before the failed page: contiguous, keep it
                self._write(kind, user, pages, result)
            raise
        self._write(kind, user, pages, result)

    def _write(self, kind: Kind[U, Any], user: U, pages: list[Any], result: FetchResult) -> None:
        """Make one transaction of ``pages`` and write it; raise the kind's failure after."""
        report = ImportReport(source=self.source, dataset=kind.dataset)
        rows = kind.rows(user, pages, report)
        result.fetched[kind.name] = result.fetched.get(kind.name, 0) + rows.fetched
        if rows.note:
            result.notes.append(rows.note)
        if rows.items is not None:
            batch = ImportBatch(
                dataset=kind.dataset,
                source=self.source,
                report=report,
                items=rows.items.drop_duplicates("key").reset_index(drop=True),
            )
            if rows.with_user:
                batch.users = pd.DataFrame(
                    {"key": [user.user_key], "name": [user.display], "tracked": [True]}
                )
            if rows.interactions is not None:
                batch.interactions = rows.interactions.reset_index(drop=True)
            if rows.tags is not None:
                batch.tags = rows.tags.reset_index(drop=True)
            if rows.features is not None:
                batch.features = rows.features.reset_index(drop=True)
            written = write_kind(self.store, batch)
            result.written[kind.name] = result.written.get(kind.name, 0) + new_rows(written)
            heartbeat(self.store, result)
        if rows.failure:
            raise GaveUp(rows.failure)
