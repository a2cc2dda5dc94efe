"""Live Last.fm: tracked users' top lists, loved tracks, scrobble history and tags, via pylast.

Many users are fetched concurrently under one shared rate limit (default 5 requests per second,
Last.fm's documented ceiling). Every HTTP request goes through pylast's own request layer
(``pylast._Request``: API key, HTTPS, XML parsing, ``WSError`` / ``NetworkError`` /
``MalformedResponseError``), one page at a time, so that Timbre's retry policy, rate limiter and
cancellation see each request. pylast's object helpers re-page internally with a fixed one-second
retry and cannot resume a history; they are not used.

What a fetch keeps when it is cut off (retries exhausted, a user turns private, Ctrl-C):

- every *kind* (top tracks, top albums, top artists, loved tracks, history, tags) is written in
  its own transaction once it is complete, so a kind is in the store entirely or not at all;
- the scrobble history is read oldest page first and written every ``history_chunk_pages`` pages:
  what is stored is always the complete history up to its newest scrobble, and the next fetch
  resumes from there (Last.fm's ``from``), so a cut-off history is continued, never left with a
  hole;
- the user's ``fetch_logs`` row says ``partial`` (some kinds written) or ``failed`` (nothing
  written) and names each failed kind and why.
"""

from __future__ import annotations

import html
import logging
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit
from xml.dom import minidom
from xml.parsers.expat import ExpatError

import httpx2
import pandas as pd
import pylast

from timbre.errors import DataError, ParameterError, SourceError, TimbreError
from timbre.records import ImportBatch, ImportReport, link_key, name_key
from timbre.sources.live import (
    Cancelled,
    Failure,
    FetchProgress,
    FetchResult,
    GaveUp,
    ItemSkipped,
    ProgressCallback,
    RateLimiter,
    RetryPolicy,
    RunRefused,
    UserFetchError,
    call_with_retry,
    install_log_redaction,
    log_result,
    new_rows,
    redact,
    write_kind,
)
from timbre.sources.live import (
    parse_kinds as parse_kinds_of,
)
from timbre.store import Store

log = logging.getLogger(__name__)

SOURCE = "lastfm"
DEFAULT_API_ROOT = "https://ws.audioscrobbler.com/2.0/"
#: What can be fetched per user, in the order it is fetched (tags last: they need the items).
KINDS: tuple[str, ...] = ("top-artists", "top-albums", "top-tracks", "loved", "history", "tags")
#: The data set each kind's interactions go to (one item kind per data set, so that each can be
#: trained on as it is: artist play counts like HetRec, track counts + loves, timed scrobbles).
DATASETS: dict[str, str] = {
    "top-artists": "lastfm-artists",
    "top-albums": "lastfm-albums",
    "top-tracks": "lastfm-tracks",
    "loved": "lastfm-tracks",
    "history": "lastfm-scrobbles",
}
USER_PREFIX = "lastfm:"
#: Last.fm's rule: 2-15 characters, a letter first, then letters, digits, ``_`` or ``-``.
_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{1,14}$")
#: Largest page the service serves per method family.
_MAX_PAGE = {"top": 1000, "recent": 200}
_RETRYABLE = {"8", "11", "16", "29", "500", "502", "503", "504"}
_AUTH_ERRORS = {"4", "9", "13", "14", "15"}

Scope = Literal["user", "item"]


class _Malformed(Exception):
    """A response that parsed as XML but lacks what the method always returns."""


# --- names and keys ---------------------------------------------------------------------------
def check_username(name: str) -> str:
    """A Last.fm user name, stripped; raises ``DataError`` when Last.fm would not allow it.

    Examples
    --------
    >>> check_username(" RJ ")
    'RJ'
    """
    text = str(name).strip()
    if text.lower().startswith(USER_PREFIX):
        text = text[len(USER_PREFIX) :]
    if not _USERNAME.match(text):
        raise DataError(
            f"{name!r} is not a Last.fm user name (2-15 characters: a letter first, then "
            "letters, digits, '_' or '-')"
        )
    return text


def user_key(name: str) -> str:
    """The store key of a Last.fm user (names are case-insensitive on Last.fm).

    Examples
    --------
    >>> user_key("RJ")
    'lastfm:rj'
    """
    return USER_PREFIX + check_username(name).lower()


def track_key(title: str | None, artist: str | None) -> str:
    """``lastfm:track:<artist>|<title>`` (the same key a Last.fm CSV export import uses)."""
    linked = link_key("track", title, artist)
    return "lastfm:track:" + linked.removeprefix("track:") if linked else ""


def album_key(title: str | None, artist: str | None) -> str:
    """``lastfm:album:<artist>|<album>``."""
    linked = link_key("album", title, artist)
    return "lastfm:album:" + linked.removeprefix("album:") if linked else ""


def artist_key(name: str | None) -> str:
    """``lastfm:artist:<name>``."""
    key = name_key(name)
    return f"lastfm:artist:{key}" if key else ""


def parse_kinds(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """Last.fm kinds from ``"top-tracks,history"`` or a list, in fetch order; ``None``: all."""
    return parse_kinds_of(text, KINDS, KINDS, "Last.fm")


# --- tracked users ----------------------------------------------------------------------------
def add_users(store: Store, names: Iterable[str]) -> list[str]:
    """Track Last.fm users (idempotent); returns their store keys.

    Raises
    ------
    DataError
        A name Last.fm would not allow (nothing is written).
    """
    checked = [check_username(n) for n in names if str(n).strip()]
    if not checked:
        raise DataError("give at least one Last.fm user name")
    keys = [user_key(n) for n in checked]
    frame = pd.DataFrame({"key": keys, "name": checked}).drop_duplicates("key")
    batch = ImportBatch(
        dataset="",
        source=SOURCE,
        report=ImportReport(source=SOURCE, dataset=""),
        users=frame,
    )
    write_kind(store, batch)
    return list(dict.fromkeys(keys))


def tracked_users(store: Store) -> pd.DataFrame:
    """Tracked Last.fm users with their newest fetch.

    Returns
    -------
    pandas.DataFrame
        ``key, name, interactions, datasets, last_fetch, status, rows, error``.
    """
    users = store.list_users(USER_PREFIX)
    logs = store.list_fetch_logs(limit=100_000)
    logs = logs[logs["source"] == SOURCE] if len(logs) else logs
    latest = logs.drop_duplicates("user_key") if len(logs) else logs  # newest first already
    by_key = latest.set_index("user_key") if len(latest) else None
    out = users[["key", "name", "interactions", "datasets"]].copy()
    for column, source in (
        ("last_fetch", "finished_at"),
        ("status", "status"),
        ("rows", "rows"),
        ("error", "error"),
    ):
        out[column] = (
            out["key"].map(by_key[source]) if by_key is not None else pd.Series(dtype=object)
        )
    return out


# --- the HTTP layer ---------------------------------------------------------------------------
class _Transport(httpx2.BaseTransport):
    """The transport pylast's HTTP client uses for ``https://`` (mounted through its ``proxy``).

    Every request waits for the shared rate limiter, gets Timbre's timeout (pylast's own is 20 s
    per read) and trusts the default CA store at the time the transport was made
    (``SSL_CERT_FILE`` is honoured, which is how tests trust a loopback server's throwaway CA).
    pylast closes its client after every request; the connection pool here outlives it and is
    closed by :meth:`shutdown`.
    """

    def __init__(
        self, limiter: RateLimiter, timeout: float, cancel: threading.Event | None
    ) -> None:
        self._limiter = limiter
        self._timeout = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        self._cancel = cancel
        self._inner = httpx2.HTTPTransport(verify=ssl.create_default_context(), retries=0)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self._limiter.acquire(self._cancel)
        request.extensions["timeout"] = dict(self._timeout)
        return self._inner.handle_request(request)

    def close(self) -> None:
        """Kept open across pylast's per-request clients; see :meth:`shutdown`."""

    def shutdown(self) -> None:
        """Close the pooled connections."""
        self._inner.close()


def _split_root(api_root: str) -> tuple[str, str]:
    parts = urlsplit(api_root)
    if parts.scheme != "https" or not parts.netloc:
        raise SourceError(
            f"Last.fm API root must be an https:// URL (pylast speaks HTTPS only), got {api_root!r}"
        )
    path = parts.path or "/"
    return parts.netloc, path if path.endswith("/") else path + "/"


@dataclass(frozen=True)
class LastfmOptions:
    """How a Last.fm fetch runs (defaults suit the real service).

    Parameters
    ----------
    api_root
        ``https://`` URL of the API (``TIMBRE_LASTFM_API_ROOT`` / ``--api-root``).
    rate
        Requests per second, shared by every user of a run (Last.fm: at most 5 on average).
    workers
        Users fetched at the same time.
    timeout
        Seconds to wait for a connection or an answer before retrying.
    retry
        Backoff for rate limit (29), temporary errors (8, 11, 16), HTTP 5xx, network errors and
        malformed responses.
    top_tracks, top_albums, top_artists
        How many of each top list (Last.fm serves up to 1000 tracks, 500 albums and artists).
    loved, history_pages
        Caps on loved tracks and history pages (``None``: everything).
    page_size
        Items per page of paged lists (history: at most 200).
    history_chunk_pages
        History pages written per transaction (the resume granularity).
    tag_artists, tag_tracks, tags_per_item
        Tags are fetched for each user's top ``tag_artists`` artists and ``tag_tracks`` tracks
        that have none in the store yet; each keeps its ``tags_per_item`` strongest tags.
    """

    api_root: str = DEFAULT_API_ROOT
    rate: float = 5.0
    workers: int = 4
    timeout: float = 20.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    top_tracks: int = 1000
    top_albums: int = 500
    top_artists: int = 500
    loved: int | None = None
    history_pages: int | None = None
    page_size: int = 200
    history_chunk_pages: int = 10
    tag_artists: int = 50
    tag_tracks: int = 50
    tags_per_item: int = 20

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ParameterError(f"rate must be positive, got {self.rate}")
        if self.workers < 1:
            raise ParameterError(f"workers must be at least 1, got {self.workers}")
        if not self.timeout > 0:
            raise ParameterError(f"timeout must be positive, got {self.timeout}")
        if not 1 <= self.page_size <= _MAX_PAGE["recent"]:
            raise ParameterError(f"page_size must be within 1..200, got {self.page_size}")
        if self.history_chunk_pages < 1:
            raise ParameterError("history_chunk_pages must be at least 1")


class LastfmClient:
    """pylast's request layer with Timbre's rate limit, timeout, retry policy and redaction.

    Parameters
    ----------
    api_key
        The Last.fm API key (never logged, stored or shown; redacted from error texts).
    options
        See :class:`LastfmOptions`.
    limiter
        Shared rate limiter (one is made from ``options.rate`` when omitted).
    sleep, rng
        Backoff sleep (default: waiting on ``cancel``) and jitter source (injectable for tests).
    cancel
        Set it to stop: waiting requests raise ``Cancelled``.
    """

    def __init__(
        self,
        api_key: str,
        options: LastfmOptions | None = None,
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], object] | None = None,
        rng: random.Random | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        if not api_key or not str(api_key).strip():
            raise SourceError(
                "no Last.fm API key: set lastfm_api_key in .streamlit/secrets.toml or "
                "LASTFM_API_KEY in the environment (or type it into the Data page)"
            )
        self._secrets = (str(api_key).strip(),)
        install_log_redaction(*self._secrets)
        self.options = options or LastfmOptions()
        self.limiter = limiter or RateLimiter(self.options.rate)
        self.cancel = cancel or threading.Event()
        self._sleep = sleep or self.cancel.wait
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        host, path = _split_root(self.options.api_root)
        self._transport = _Transport(self.limiter, self.options.timeout, self.cancel)
        self.network = pylast.LastFMNetwork(
            api_key=self._secrets[0], proxy={"https://": self._transport}
        )
        self.network.ws_server = (host, path)
        self.retries = 0
        self._count_lock = threading.Lock()
        self._local = threading.local()

    @property
    def thread_retries(self) -> int:
        """Retries made by the calling thread (a worker fetches one user at a time)."""
        return int(getattr(self._local, "retries", 0))

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never appear in a log, an error text or the store."""
        return self._secrets

    def close(self) -> None:
        """Close pooled connections."""
        self._transport.shutdown()

    def __enter__(self) -> LastfmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self, method: str, params: dict[str, Any], *, what: str, scope: Scope = "user"
    ) -> minidom.Element:
        """One request (retried as the policy says); returns the element inside ``<lfm>``.

        Raises
        ------
        UserFetchError
            ``scope="user"`` and a failure that ends the user's fetch (unknown user, private
            history, invalid parameters).
        ItemSkipped
            ``scope="item"`` and a failure about that item only (e.g. an unknown artist).
        RunRefused
            Invalid or suspended API key.
        GaveUp, Cancelled
            Retries exhausted; the run was cancelled.
        """

        def once() -> minidom.Element:
            request = pylast._Request(self.network, method, dict(params))
            return _payload(request.execute(cacheable=False))

        def on_retry(attempt: int, failure: Failure, delay: float) -> None:
            with self._count_lock:
                self.retries += 1
            self._local.retries = self.thread_retries + 1

        with self._rng_lock:
            rng = random.Random(self._rng.random())
        return call_with_retry(
            once,
            lambda exc: self._classify(exc, scope),
            self.options.retry,
            what=what,
            sleep=self._sleep,
            rng=rng,
            cancel=self.cancel,
            on_retry=on_retry,
        )

    def _classify(self, exc: Exception, scope: Scope) -> Failure:
        failure = classify_error(exc, scope, self.options.timeout)
        return Failure(failure.kind, redact(failure.message, self._secrets), failure.wait)


def classify_error(exc: Exception, scope: Scope = "user", timeout: float = 20.0) -> Failure:
    """Sort a pylast failure into retry / end the user / end the run / skip the item.

    Raises
    ------
    Cancelled
        The request was cancelled while waiting for the rate limiter.
    Exception
        ``exc`` itself when it is not a network or service failure (a bug is never retried).
    """
    if isinstance(exc, pylast.WSError):
        status, details = str(exc.status), str(exc.details or "").strip()
        if status == "29":
            return Failure("retry", "Last.fm rate limit exceeded (error 29)")
        if status in ("500", "502", "503", "504"):
            return Failure("retry", f"Last.fm answered HTTP {status}")
        if status in _RETRYABLE:
            return Failure("retry", f"temporary Last.fm error {status}: {details}")
        if status == "10":
            return Failure(
                "run",
                "Last.fm refused the API key (error 10: invalid API key); check lastfm_api_key "
                "in .streamlit/secrets.toml or LASTFM_API_KEY",
            )
        if status == "26":
            return Failure("run", "Last.fm has suspended this API key (error 26); use another key")
        if scope == "item":
            return Failure("skip", f"Last.fm error {status}: {details}")
        if status == "6" and "not found" in details.lower():
            return Failure("user", "no such Last.fm user (error 6: user not found)")
        if status == "6":
            return Failure("user", f"Last.fm refused the request as invalid (error 6: {details})")
        if status == "17":
            return Failure(
                "user",
                "this user's listening history is private (error 17: login required); they can "
                "share it under Last.fm settings > Privacy",
            )
        if status in _AUTH_ERRORS:
            return Failure("user", f"Last.fm authentication failed (error {status}: {details})")
        return Failure("user", f"Last.fm error {status}: {details}")
    if isinstance(exc, pylast.NetworkError):
        underlying = exc.underlying_error
        if isinstance(underlying, Cancelled):
            raise underlying
        if isinstance(underlying, httpx2.TimeoutException):
            return Failure("retry", f"no answer from Last.fm within {timeout:g} s")
        return Failure("retry", f"network error talking to Last.fm ({type(underlying).__name__})")
    if isinstance(
        exc,
        pylast.MalformedResponseError
        | pylast.PyLastError
        | _Malformed
        | ExpatError
        | IndexError
        | AttributeError,
    ):
        return Failure("retry", "malformed response from Last.fm")
    raise exc


def _payload(doc: minidom.Document) -> minidom.Element:
    root = doc.documentElement
    if root is None or root.tagName != "lfm":
        raise _Malformed("no <lfm> element")
    for node in root.childNodes:
        if node.nodeType == node.ELEMENT_NODE:
            return node
    raise _Malformed("empty <lfm> element")


def _children(node: minidom.Element, tag: str) -> list[minidom.Element]:
    return [c for c in node.childNodes if c.nodeType == c.ELEMENT_NODE and c.tagName == tag]


def _text(node: minidom.Element | None, tag: str | None = None) -> str | None:
    """Text of ``node`` (or of its first child ``tag``), HTML entities decoded, or ``None``."""
    if node is None:
        return None
    if tag is not None:
        found = _children(node, tag)
        if not found:
            return None
        node = found[0]
    text = "".join(
        c.data for c in node.childNodes if c.nodeType in (c.TEXT_NODE, c.CDATA_SECTION_NODE)
    ).strip()
    return html.unescape(text) if text else None


def _number(text: str | None) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError:
        raise _Malformed(f"not a number: {str(text)[:40]!r}") from None


def _total_pages(container: minidom.Element) -> int:
    value = container.getAttribute("totalPages") or container.getAttribute("totalpages")
    if value == "":
        raise _Malformed(f"<{container.tagName}> has no totalPages")
    return int(_number(value))


def _expect(element: minidom.Element, tag: str) -> minidom.Element:
    if element.tagName != tag:
        raise _Malformed(f"expected <{tag}>, got <{element.tagName}>")
    return element


# --- one user's fetch -------------------------------------------------------------------------
@dataclass
class _Shared:
    """State shared by the users of one run: the abort reason and the items being tagged."""

    abort: str | None = None
    tagging: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, keys: Sequence[str]) -> list[str]:
        with self.lock:
            fresh = [k for k in keys if k not in self.tagging]
            self.tagging.update(fresh)
        return fresh


@dataclass
class _Seen:
    """Items met during one user's fetch, for choosing what to tag.

    Items are ranked by the top lists' all-time play counts when this fetch read a top list,
    else by how often they came up in the history and loved tracks. The top lists do not depend
    on how much history a fetch reads (all of it the first time, only what is new later), so a
    re-fetch picks the same items and asks for nothing new.
    """

    artists: dict[str, tuple[str, float, float]] = field(default_factory=dict)
    tracks: dict[str, tuple[str, str, float, float]] = field(default_factory=dict)

    def artist(self, name: str, weight: float, top: bool = False) -> None:
        key = artist_key(name)
        if key:
            _name, ranked, plays = self.artists.get(key, (name, 0.0, 0.0))
            self.artists[key] = (name, ranked + weight * top, plays + weight * (not top))

    def track(self, title: str, artist: str, weight: float, top: bool = False) -> None:
        key = track_key(title, artist)
        if key:
            _t, _a, ranked, plays = self.tracks.get(key, (title, artist, 0.0, 0.0))
            self.tracks[key] = (title, artist, ranked + weight * top, plays + weight * (not top))
        self.artist(artist, weight, top)

    def strongest_artists(self, n: int) -> list[tuple[str, str]]:
        """``(key, name)`` of the ``n`` strongest artists."""
        by_top = any(v[1] > 0 for v in self.artists.values())
        ranked = sorted(
            self.artists.items(), key=lambda kv: (-(kv[1][1] if by_top else kv[1][2]), kv[0])
        )
        return [(k, v[0]) for k, v in ranked if not by_top or v[1] > 0][:n]

    def strongest_tracks(self, n: int) -> list[tuple[str, str, str]]:
        """``(key, title, artist)`` of the ``n`` strongest tracks."""
        by_top = any(v[2] > 0 for v in self.tracks.values())
        ranked = sorted(
            self.tracks.items(), key=lambda kv: (-(kv[1][2] if by_top else kv[1][3]), kv[0])
        )
        return [(k, v[0], v[1]) for k, v in ranked if not by_top or v[2] > 0][:n]


class LastfmFetcher:
    """Fetch tracked users into the store: one user per worker, one shared rate limit.

    Parameters
    ----------
    store
        Where batches and fetch logs go.
    client
        The Last.fm client (its limiter is shared by every worker).

    Examples
    --------
    A run against the real service (needs a key and the network)::

        with LastfmClient(key) as client:
            results = LastfmFetcher(store, client).fetch_users(["rj"], parse_kinds(None))
    """

    def __init__(self, store: Store, client: LastfmClient) -> None:
        self.store = store
        self.client = client
        self.options = client.options

    # -- many users ------------------------------------------------------------------------
    def fetch_users(
        self,
        names: Sequence[str],
        kinds: Sequence[str] = KINDS,
        progress: ProgressCallback | None = None,
    ) -> list[FetchResult]:
        """Fetch several users concurrently; one ``fetch_logs`` row each; results in order.

        One user's failure never stops the others; an invalid or suspended API key ends every
        user's fetch (each logged as failed with that reason). Ctrl-C cancels: users stop at
        their next request, what they wrote stays, and each is logged.

        Raises
        ------
        DataError
            A name Last.fm would not allow (checked before anything is fetched).
        """
        checked = list(dict.fromkeys(check_username(n) for n in names))
        if not checked:
            raise DataError("no Last.fm users to fetch: add some first")
        kinds = parse_kinds(kinds)
        shared = _Shared()
        workers = min(self.options.workers, len(checked))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lastfm") as pool:
            futures = [
                pool.submit(self.fetch_user, name, kinds, progress, shared) for name in checked
            ]
            try:
                wait_all(futures)
            except BaseException:
                self.client.cancel.set()
                wait_all(futures)
                raise
            return [f.result() for f in futures]

    # -- one user --------------------------------------------------------------------------
    def fetch_user(
        self,
        name: str,
        kinds: Sequence[str] = KINDS,
        progress: ProgressCallback | None = None,
        shared: _Shared | None = None,
    ) -> FetchResult:
        """Fetch one user's ``kinds`` (each kind in its own transaction) and log the result."""
        name = check_username(name)
        kinds = parse_kinds(kinds)
        shared = shared or _Shared()
        result = FetchResult(source=SOURCE, user=name, user_key=user_key(name), kinds=kinds)

        def report(stage: str, done: float, message: str) -> None:
            if progress is not None:
                fraction = min(1.0, max(0.0, done / (len(kinds) + 1)))
                progress(FetchProgress(name, stage, fraction, message))

        retries_before = self.client.thread_retries
        try:
            self._run_user(name, kinds, result, report, shared)
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
            progress(
                FetchProgress(
                    result.user, "done", 1.0, result.error or f"{result.rows:,} new rows", result
                )
            )

    def _run_user(
        self,
        name: str,
        kinds: tuple[str, ...],
        result: FetchResult,
        report: Callable[[str, float, str], None],
        shared: _Shared,
    ) -> None:
        if shared.abort:
            result.fatal = shared.abort
            return
        report("profile", 0, "reading the profile")
        try:
            info = _expect(
                self.client.call("user.getInfo", {"user": name}, what=f"profile of {name}"),
                "user",
            )
        except (UserFetchError, GaveUp, Cancelled) as exc:
            result.fatal = _reason(exc)
            return
        except RunRefused as exc:
            result.fatal = shared.abort = str(exc)
            return
        display = _text(info, "name") or name
        seen = _Seen()
        steps = {
            "top-artists": self._top_artists,
            "top-albums": self._top_albums,
            "top-tracks": self._top_tracks,
            "loved": self._loved,
            "history": self._history,
            "tags": self._tags,
        }
        for position, kind in enumerate(kinds, start=1):
            if shared.abort:
                result.fatal = shared.abort
                break

            def step(fraction: float, message: str, _p: int = position, _k: str = kind) -> None:
                report(_k, _p - 1 + fraction, message)

            step(0.0, f"{kind}: starting")
            try:
                steps[kind](name, display, result, seen, step, shared)
            except UserFetchError as exc:
                result.errors[kind] = result.fatal = str(exc)
                break
            except RunRefused as exc:
                result.errors[kind] = result.fatal = shared.abort = str(exc)
                break
            except Cancelled:
                result.errors[kind] = result.fatal = "cancelled before it finished"
                break
            except (GaveUp, SourceError, DataError) as exc:
                result.errors[kind] = str(exc)
            except TimbreError as exc:  # the store refused a batch: that kind is not written
                result.errors[kind] = str(exc)

    # -- kinds -----------------------------------------------------------------------------
    def _pages(
        self,
        method: str,
        container: str,
        item_tag: str,
        params: dict[str, Any],
        want: int | None,
        page_size: int,
        what: str,
        step: Callable[[float, str], None],
    ) -> list[minidom.Element]:
        """Items of a paged list, newest / strongest first, up to ``want`` (``None``: all)."""
        nodes: list[minidom.Element] = []
        page, total = 1, 1
        while page <= total and (want is None or len(nodes) < want):
            body = _expect(
                self.client.call(
                    method,
                    {**params, "limit": page_size, "page": page},
                    what=f"{what}, page {page}",
                ),
                container,
            )
            total = _total_pages(body)
            items = _children(body, item_tag)
            nodes.extend(items)
            step(min(1.0, page / max(total, 1)) * 0.9, f"{what}: page {page} of {total}")
            if not items:
                break
            page += 1
        return nodes if want is None else nodes[:want]

    def _write(
        self,
        kind: str,
        result: FetchResult,
        name: str,
        display: str,
        items: pd.DataFrame,
        interactions: pd.DataFrame,
        report: ImportReport,
        tags: pd.DataFrame | None = None,
    ) -> None:
        key = user_key(name)
        dataset = DATASETS.get(kind, "")
        batch = ImportBatch(
            dataset=dataset,
            source=SOURCE,
            report=report,
            items=items.drop_duplicates("key").reset_index(drop=True),
            users=pd.DataFrame({"key": [key], "name": [display]}),
            interactions=interactions.reset_index(drop=True),
        )
        if tags is not None:
            batch.tags = tags.reset_index(drop=True)
        written = write_kind(self.store, batch)
        result.written[kind] = result.written.get(kind, 0) + new_rows(written)

    def _top_artists(
        self,
        name: str,
        display: str,
        result: FetchResult,
        seen: _Seen,
        step: Callable[[float, str], None],
        shared: _Shared,
    ) -> None:
        want = self.options.top_artists
        nodes = self._pages(
            "user.getTopArtists",
            "topartists",
            "artist",
            {"user": name, "period": "overall"},
            want,
            min(want, _MAX_PAGE["top"]),
            f"top artists of {name}",
            step,
        )
        report = ImportReport(source=SOURCE, dataset=DATASETS["top-artists"], rows_read=len(nodes))
        rows = []
        for node in nodes:
            artist = _text(node, "name")
            key = artist_key(artist)
            if not key:
                report.drop("artist without a name")
                continue
            plays = _number(_text(node, "playcount"))
            rows.append((key, artist, link_key("artist", artist), plays))
            seen.artist(str(artist), plays, top=True)
        frame = pd.DataFrame(rows, columns=["key", "name", "link_key", "weight"])
        report.accepted = len(frame)
        result.fetched["top-artists"] = len(frame)
        self._write(
            "top-artists",
            result,
            name,
            display,
            pd.DataFrame(
                {
                    "key": frame["key"],
                    "kind": "artist",
                    "name": frame["name"],
                    "artist": None,
                    "link_key": frame["link_key"],
                }
            ),
            _interactions(user_key(name), frame["key"], "top", frame["weight"]),
            report,
        )

    def _top_albums(
        self,
        name: str,
        display: str,
        result: FetchResult,
        seen: _Seen,
        step: Callable[[float, str], None],
        shared: _Shared,
    ) -> None:
        want = self.options.top_albums
        nodes = self._pages(
            "user.getTopAlbums",
            "topalbums",
            "album",
            {"user": name, "period": "overall"},
            want,
            min(want, _MAX_PAGE["top"]),
            f"top albums of {name}",
            step,
        )
        report = ImportReport(source=SOURCE, dataset=DATASETS["top-albums"], rows_read=len(nodes))
        rows = []
        for node in nodes:
            title = _text(node, "name")
            artist = _text(_first(node, "artist"), "name")
            key = album_key(title, artist)
            if not key:
                report.drop("album without a title or an artist")
                continue
            plays = _number(_text(node, "playcount"))
            rows.append((key, title, artist, link_key("album", title, artist), plays))
        frame = pd.DataFrame(rows, columns=["key", "name", "artist", "link_key", "weight"])
        report.accepted = len(frame)
        result.fetched["top-albums"] = len(frame)
        self._write(
            "top-albums",
            result,
            name,
            display,
            frame.assign(kind="album")[["key", "kind", "name", "artist", "link_key"]],
            _interactions(user_key(name), frame["key"], "top", frame["weight"]),
            report,
        )

    def _track_rows(
        self, nodes: Sequence[minidom.Element], report: ImportReport, recent: bool = False
    ) -> list[tuple[str, str, str, str, float, pd.Timestamp | None]]:
        rows = []
        for node in nodes:
            if recent and node.getAttribute("nowplaying") == "true":
                report.drop("now playing (not a finished scrobble)")
                continue
            title = _text(node, "name")
            artist_node = _first(node, "artist")
            artist = _text(artist_node, "name") or _text(artist_node)
            key = track_key(title, artist)
            if not key:
                report.drop("track without a title or an artist")
                continue
            stamp = None
            date = _first(node, "date")
            if date is not None and date.getAttribute("uts"):
                stamp = pd.Timestamp(int(_number(date.getAttribute("uts"))), unit="s", tz="UTC")
            elif recent:
                report.drop("scrobble without a time")
                continue
            plays = _number(_text(node, "playcount")) if not recent else 1.0
            rows.append(
                (key, str(title), str(artist), link_key("track", title, artist), plays, stamp)
            )
        return rows

    def _top_tracks(
        self,
        name: str,
        display: str,
        result: FetchResult,
        seen: _Seen,
        step: Callable[[float, str], None],
        shared: _Shared,
    ) -> None:
        want = self.options.top_tracks
        nodes = self._pages(
            "user.getTopTracks",
            "toptracks",
            "track",
            {"user": name, "period": "overall"},
            want,
            min(want, _MAX_PAGE["top"]),
            f"top tracks of {name}",
            step,
        )
        report = ImportReport(source=SOURCE, dataset=DATASETS["top-tracks"], rows_read=len(nodes))
        frame = _track_frame(self._track_rows(nodes, report))
        for title, artist, plays in zip(
            frame["name"], frame["artist"], frame["weight"], strict=True
        ):
            seen.track(title, artist, plays, top=True)
        report.accepted = len(frame)
        result.fetched["top-tracks"] = len(frame)
        self._write(
            "top-tracks",
            result,
            name,
            display,
            _track_items(frame),
            _interactions(user_key(name), frame["key"], "top", frame["weight"]),
            report,
        )

    def _loved(
        self,
        name: str,
        display: str,
        result: FetchResult,
        seen: _Seen,
        step: Callable[[float, str], None],
        shared: _Shared,
    ) -> None:
        nodes = self._pages(
            "user.getLovedTracks",
            "lovedtracks",
            "track",
            {"user": name},
            self.options.loved,
            self.options.page_size,
            f"loved tracks of {name}",
            step,
        )
        report = ImportReport(source=SOURCE, dataset=DATASETS["loved"], rows_read=len(nodes))
        frame = _track_frame(self._track_rows(nodes, report)).drop_duplicates("key")
        for title, artist in zip(frame["name"], frame["artist"], strict=True):
            seen.track(title, artist, 1.0)
        report.accepted = len(frame)
        result.fetched["loved"] = len(frame)
        # a love has no time in the natural key: loving, un-loving and loving again is one love
        self._write(
            "loved",
            result,
            name,
            display,
            _track_items(frame),
            _interactions(user_key(name), frame["key"], "love", pd.Series(1.0, index=frame.index)),
            report,
        )

    def _history(
        self,
        name: str,
        display: str,
        result: FetchResult,
        seen: _Seen,
        step: Callable[[float, str], None],
        shared: _Shared,
    ) -> None:
        """The scrobble history since the newest stored scrobble, oldest page first.

        Pages are numbered from the newest; with ``to`` fixed at the start of the fetch they do
        not move while we read them. Page 1 (read first, to learn the page count) is written
        last; every ``history_chunk_pages`` pages are written in one transaction, so what is
        stored is always complete up to its newest scrobble and a cut-off fetch resumes there.
        """
        key = user_key(name)
        dataset = DATASETS["history"]
        since = self.store.latest_event_ms(dataset, key, "play")
        params: dict[str, Any] = {"user": name, "to": int(time.time()) + 1}
        if since is not None:
            params["from"] = since // 1000
        size = self.options.page_size
        what = f"history of {name}"

        def page(number: int) -> minidom.Element:
            return _expect(
                self.client.call(
                    "user.getRecentTracks",
                    {**params, "limit": size, "page": number},
                    what=f"{what}, page {number}",
                ),
                "recenttracks",
            )

        first = page(1)
        total = _total_pages(first)
        if self.options.history_pages is not None:
            total = min(total, self.options.history_pages)
        fetched = 0
        buffer: list[tuple[str, str, str, str, float, pd.Timestamp | None]] = []
        report = ImportReport(source=SOURCE, dataset=dataset)

        def flush() -> None:
            nonlocal buffer, report
            if not buffer:
                return
            frame = _track_frame(buffer)
            dupes = frame.duplicated(["key", "timestamp"])
            report.drop("duplicate scrobble (same track, same time)", int(dupes.sum()))
            frame = frame[~dupes]
            report.accepted = len(frame)
            self._write(
                "history",
                result,
                name,
                display,
                _track_items(frame),
                _interactions(
                    key,
                    frame["key"],
                    "play",
                    pd.Series(1.0, index=frame.index),
                    frame["timestamp"],
                ),
                report,
            )
            buffer = []
            report = ImportReport(source=SOURCE, dataset=dataset)

        done = 0
        try:
            for number in range(total, 0, -1):  # oldest page first
                body = first if number == 1 else page(number)
                nodes = _children(body, "track")
                report.rows_read += len(nodes)
                rows = self._track_rows(nodes, report, recent=True)
                rows.reverse()  # oldest first within the page too
                buffer.extend(rows)
                fetched += len(rows)
                for row in rows:
                    seen.track(row[1], row[2], 1.0)
                done += 1
                if done % self.options.history_chunk_pages == 0:
                    flush()
                step(0.9 * done / max(total, 1), f"{what}: {done} of {total} pages")
        except (GaveUp, UserFetchError, Cancelled, RunRefused):
            # pages read so far are contiguous and older than the failed one: keep them
            flush()
            result.fetched["history"] = fetched
            raise
        flush()
        result.fetched["history"] = fetched

    def _tags(
        self,
        name: str,
        display: str,
        result: FetchResult,
        seen: _Seen,
        step: Callable[[float, str], None],
        shared: _Shared,
    ) -> None:
        """Top tags of the user's strongest artists and tracks that have none stored yet."""
        artists = seen.strongest_artists(self.options.tag_artists)
        tracks = seen.strongest_tracks(self.options.tag_tracks)
        if not artists and not tracks:
            result.notes.append(
                "tags: no artists or tracks in this fetch to tag (fetch top lists or history "
                "with them)"
            )
            result.fetched["tags"] = 0
            return
        keys = [a[0] for a in artists] + [t[0] for t in tracks]
        have = self.store.item_keys_with_tags(keys)
        todo = set(shared.claim([k for k in keys if k not in have]))
        jobs: list[tuple[str, str, dict[str, Any]]] = [
            (key, "artist.getTopTags", {"artist": artist_name})
            for key, artist_name in artists
            if key in todo
        ]
        jobs += [
            (key, "track.getTopTags", {"artist": artist_name, "track": title})
            for key, title, artist_name in tracks
            if key in todo
        ]
        tag_rows: list[tuple[str, str, float]] = []
        item_rows: list[tuple[str, str, str, str | None, str]] = []
        skipped, failed = 0, 0
        for done, (key, method, params) in enumerate(jobs, start=1):
            subject = " - ".join(reversed(list(params.values())))
            try:
                body = _expect(
                    self.client.call(method, params, what=f"tags of {subject}", scope="item"),
                    "toptags",
                )
            except ItemSkipped:
                skipped += 1
                continue
            except GaveUp:
                failed += 1
                continue
            tags = []
            for node in _children(body, "tag"):
                tag = (_text(node, "name") or "").strip().lower()
                if tag:
                    tags.append((tag, _number(_text(node, "count"))))
            tags.sort(key=lambda t: (-t[1], t[0]))
            kept = tags[: self.options.tags_per_item]
            if key.startswith("lastfm:artist:"):
                artist_name = params["artist"]
                item_rows.append(
                    (key, "artist", artist_name, None, link_key("artist", artist_name))
                )
            else:
                item_rows.append(
                    (
                        key,
                        "track",
                        params["track"],
                        params["artist"],
                        link_key("track", params["track"], params["artist"]),
                    )
                )
            tag_rows.extend((key, tag, weight) for tag, weight in kept)
            step(0.9 * done / max(len(jobs), 1), f"tags: {done} of {len(jobs)} items")
        report = ImportReport(source=SOURCE, dataset="", rows_read=len(jobs))
        report.accepted = len(jobs) - skipped - failed
        report.drop("unknown to Last.fm", skipped)
        report.drop("gave up after retries", failed)
        result.fetched["tags"] = len(jobs) - skipped - failed
        if skipped:
            result.notes.append(f"tags: {skipped} item(s) unknown to Last.fm were skipped")
        if item_rows:
            items = pd.DataFrame(item_rows, columns=["key", "kind", "name", "artist", "link_key"])
            tags_frame = pd.DataFrame(tag_rows, columns=["item_key", "tag", "weight"])
            tags_frame.insert(1, "kind", "tag")
            batch = ImportBatch(
                dataset="",
                source=SOURCE,
                report=report,
                items=items.drop_duplicates("key"),
                tags=tags_frame.drop_duplicates(["item_key", "tag"]),
            )
            written = write_kind(self.store, batch)
            result.written["tags"] = new_rows(written)
        if failed:
            raise GaveUp(f"tags of {failed} of {len(jobs)} item(s) gave up after retries")


# --- frames -----------------------------------------------------------------------------------
def _first(node: minidom.Element, tag: str) -> minidom.Element | None:
    found = _children(node, tag)
    return found[0] if found else None


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _track_frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    return pd.DataFrame(
        list(rows), columns=["key", "name", "artist", "link_key", "weight", "timestamp"]
    )


def _track_items(frame: pd.DataFrame) -> pd.DataFrame:
    items = frame.drop_duplicates("key")
    return pd.DataFrame(
        {
            "key": items["key"].to_numpy(),
            "kind": "track",
            "name": items["name"].to_numpy(),
            "artist": items["artist"].to_numpy(),
            "link_key": items["link_key"].to_numpy(),
        }
    )


def _interactions(
    key: str,
    items: pd.Series,
    event: str,
    weights: pd.Series,
    timestamps: pd.Series | None = None,
) -> pd.DataFrame:
    stamps = (
        pd.to_datetime(timestamps, utc=True).to_numpy()
        if timestamps is not None
        else pd.Series(pd.NaT, index=items.index, dtype="datetime64[ns, UTC]").to_numpy()
    )
    return pd.DataFrame(
        {
            "user_key": key,
            "item_key": items.to_numpy(),
            "event": event,
            "weight": weights.astype(float).to_numpy(),
            "timestamp": stamps,
        }
    )
