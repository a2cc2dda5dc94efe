"""Talking to Last.fm: pylast's request layer behind Timbre's transport, retries and XML parsing.

Every HTTP request goes through pylast's own request layer (``pylast._Request``: API key, HTTPS,
XML parsing, ``WSError`` / ``NetworkError`` / ``MalformedResponseError``), one page at a time, so
that Timbre's retry policy, rate limiter and cancellation see each request. pylast's object
helpers re-page internally with a fixed one-second retry and cannot resume a history; they are
not used.
"""

from __future__ import annotations

import html
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Unpack
from urllib.parse import urlsplit
from xml.dom import minidom
from xml.parsers.expat import ExpatError

import httpx2
import pylast

from timbre.errors import SourceError
from timbre.sources.live import (
    Cancelled,
    Failure,
    LiveClient,
    RateLimiter,
    RetryPolicy,
    Step,
    install_log_redaction,
)
from timbre.sources.retry import CheckedOptions, ClientHooks, Malformed, bounded

DEFAULT_API_ROOT = "https://ws.audioscrobbler.com/2.0/"
#: Largest page the service serves per method family.
MAX_PAGE = {"top": 1000, "recent": 200}
_RETRYABLE = {"8", "11", "16", "29", "500", "502", "503", "504"}
_AUTH_ERRORS = {"4", "9", "13", "14", "15"}

Scope = Literal["user", "item"]


# --- options ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LastfmOptions(CheckedOptions):
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

    Raises
    ------
    ParameterError
        A rate, worker count, timeout, page size or chunk size out of range.
    """

    api_root: str = DEFAULT_API_ROOT
    rate: float = bounded(5.0, 0, strict=True)
    workers: int = bounded(4, 1)
    timeout: float = bounded(20.0, 0, strict=True)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    top_tracks: int = 1000
    top_albums: int = 500
    top_artists: int = 500
    loved: int | None = None
    history_pages: int | None = None
    page_size: int = bounded(200, 1, MAX_PAGE["recent"])
    history_chunk_pages: int = bounded(10, 1)
    tag_artists: int = 50
    tag_tracks: int = 50
    tags_per_item: int = 20


# --- the HTTP layer ---------------------------------------------------------------------------
class _Transport(httpx2.BaseTransport):
    """The transport pylast's HTTP client uses for ``https://`` (mounted through its ``proxy``).

    Every request takes its rate-limit slot at the moment its headers are about to be written to
    an open connection (httpcore's ``send_request_headers`` trace event: after any TCP connect
    and TLS handshake), so that a slow handshake never sends a request later than its slot and
    bunches it with the next ones. Each request gets Timbre's timeout (pylast's own is 20 s per
    read) and trusts the default CA store at the time the transport was made (``SSL_CERT_FILE``
    is honoured, which is how tests trust a loopback server's throwaway CA). pylast closes its
    client after every request; the connection pool here outlives it and is closed by
    :meth:`shutdown`.
    """

    #: The httpcore trace event just before a request's first byte is written.
    SEND_EVENT = "http11.send_request_headers.started"

    def __init__(
        self, limiter: RateLimiter, timeout: float, cancel: threading.Event | None
    ) -> None:
        self._limiter = limiter
        self._timeout = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        self._cancel = cancel
        self._inner = httpx2.HTTPTransport(verify=ssl.create_default_context(), retries=0)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.extensions["timeout"] = dict(self._timeout)
        request.extensions["trace"] = self._trace
        return self._inner.handle_request(request)

    def _trace(self, event: str, _info: dict[str, Any]) -> None:
        """httpcore's progress events of a request: take the slot as it is sent."""
        if event == self.SEND_EVENT:
            self._limiter.acquire(self._cancel)

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


class LastfmClient(LiveClient):
    """pylast's request layer with Timbre's rate limit, timeout, retry policy and redaction.

    Parameters
    ----------
    api_key
        The Last.fm API key (never logged, stored or shown; redacted from error texts).
    options
        See :class:`LastfmOptions`.
    **hooks
        ``limiter`` (shared; one is made from ``options.rate`` when omitted), ``sleep``, ``rng``,
        ``cancel``: as for :class:`~timbre.sources.retry.LiveClient`.

    Raises
    ------
    SourceError
        No API key, or an API root that is not ``https://``.
    """

    def __init__(
        self, api_key: str, options: LastfmOptions | None = None, **hooks: Unpack[ClientHooks]
    ) -> None:
        if not api_key or not str(api_key).strip():
            raise SourceError(
                "no Last.fm API key: set lastfm_api_key in .streamlit/secrets.toml or "
                "LASTFM_API_KEY in the environment (or type it into the Data page)"
            )
        self._secrets = (str(api_key).strip(),)
        install_log_redaction(*self._secrets)
        self.options = options or LastfmOptions()
        super().__init__(self.options.retry, self.options.rate, **hooks)
        host, path = _split_root(self.options.api_root)
        self._transport = _Transport(self.limiter, self.options.timeout, self.cancel)
        self.network = pylast.LastFMNetwork(
            api_key=self._secrets[0], proxy={"https://": self._transport}
        )
        self.network.ws_server = (host, path)

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never appear in a log, an error text or the store."""
        return self._secrets

    def close(self) -> None:
        """Close pooled connections."""
        self._transport.shutdown()

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

        return self.request(
            once, lambda exc: classify_error(exc, scope, self.options.timeout), what=what
        )

    def pages(
        self,
        method: str,
        entry: str,
        params: dict[str, Any],
        want: int | None,
        page_size: int,
        what: str,
        step: Step,
    ) -> Iterator[list[minidom.Element]]:
        """The ``entry`` elements of a paged list, a page at a time, newest / strongest first.

        Parameters
        ----------
        method
            ``user.getTopArtists`` and the like; the answer's element is the method's name
            lower-cased without ``user.get`` (``topartists``).
        entry
            The element of one list entry (``artist``).
        params
            The request's parameters besides ``limit`` and ``page``.
        want
            Entries wanted in all (``None``: every page).
        page_size, what, step
            Entries per request, the list's name in messages, progress.

        Yields
        ------
        list of xml.dom.minidom.Element
            One page's entries (the last page cut to ``want``).
        """
        container = method.removeprefix("user.get").lower()
        got, page, total = 0, 1, 1
        while page <= total and (want is None or got < want):
            body = expect(
                self.call(
                    method,
                    {**params, "limit": page_size, "page": page},
                    what=f"{what}, page {page}",
                ),
                container,
            )
            total = total_pages(body)
            entries = children(body, entry)
            if want is not None:
                entries = entries[: want - got]
            got += len(entries)
            step(min(1.0, page / max(total, 1)) * 0.9, f"{what}: page {page} of {total}")
            yield entries
            if not entries:
                break
            page += 1


def classify_error(exc: Exception, scope: Scope = "user", timeout: float = 20.0) -> Failure:
    """Sort a pylast failure into retry / end the user / end the run / skip the item.

    Parameters
    ----------
    exc
        What the request raised.
    scope
        ``user``: a refusal ends the user's fetch; ``item``: it skips that item only.
    timeout
        The request timeout, for the message.

    Returns
    -------
    Failure
        How to treat it.

    Raises
    ------
    Cancelled
        The request was cancelled while waiting for the rate limiter.
    Exception
        ``exc`` itself when it is not a network or service failure (a bug is never retried).
    """
    if isinstance(exc, pylast.WSError):
        return _service_failure(str(exc.status), str(exc.details or "").strip(), scope)
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
        | Malformed
        | ExpatError
        | IndexError
        | AttributeError,
    ):
        return Failure("retry", "malformed response from Last.fm")
    raise exc


def _service_failure(status: str, details: str, scope: Scope) -> Failure:
    """What Last.fm's error ``status`` means (its documented codes)."""
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


# --- XML --------------------------------------------------------------------------------------
def _payload(doc: minidom.Document) -> minidom.Element:
    root = doc.documentElement
    if root is None or root.tagName != "lfm":
        raise Malformed("no <lfm> element")
    for node in root.childNodes:
        if node.nodeType == node.ELEMENT_NODE:
            return node
    raise Malformed("empty <lfm> element")


def children(node: minidom.Element, tag: str) -> list[minidom.Element]:
    """The child elements of ``node`` named ``tag``, in document order."""
    return [c for c in node.childNodes if c.nodeType == c.ELEMENT_NODE and c.tagName == tag]


def first_child(node: minidom.Element | None, tag: str) -> minidom.Element | None:
    """The first child element of ``node`` named ``tag``, or ``None``."""
    found = children(node, tag) if node is not None else []
    return found[0] if found else None


def node_text(node: minidom.Element | None, tag: str | None = None) -> str | None:
    """Text of ``node`` (or of its first child ``tag``), HTML entities decoded, or ``None``.

    Examples
    --------
    >>> doc = minidom.parseString("<artist><name>Simon &amp;amp; Garfunkel</name></artist>")
    >>> node_text(doc.documentElement, "name")
    'Simon & Garfunkel'
    """
    if tag is not None:
        node = first_child(node, tag)
    if node is None:
        return None
    found = "".join(
        c.data for c in node.childNodes if c.nodeType in (c.TEXT_NODE, c.CDATA_SECTION_NODE)
    ).strip()
    return html.unescape(found) if found else None


def to_number(value: str | None) -> float:
    """``value`` as a number (``0.0`` when empty).

    Raises
    ------
    Malformed
        Text that is not a number.
    """
    try:
        return float(value) if value else 0.0
    except ValueError:
        raise Malformed(f"not a number: {str(value)[:40]!r}") from None


def total_pages(container: minidom.Element) -> int:
    """The ``totalPages`` attribute of a paged answer.

    Raises
    ------
    Malformed
        The attribute is missing.
    """
    value = container.getAttribute("totalPages") or container.getAttribute("totalpages")
    if value == "":
        raise Malformed(f"<{container.tagName}> has no totalPages")
    return int(to_number(value))


def expect(element: minidom.Element, tag: str) -> minidom.Element:
    """``element`` if it is a ``<tag>``.

    Raises
    ------
    Malformed
        It is another element.
    """
    if element.tagName != tag:
        raise Malformed(f"expected <{tag}>, got <{element.tagName}>")
    return element
