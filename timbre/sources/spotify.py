"""Live Spotify: PKCE sign-in and the signed-in user's top lists, recent plays and saved tracks.

Authorisation is PKCE (no client secret) with a ``http://127.0.0.1:PORT`` or ``https://``
redirect (Spotify refuses ``localhost`` since November 2025). The flow is split in two so that a
web page can drive it: :func:`start_authorization` makes the link and a one-time verifier that
the caller keeps in memory (keyed by the link's ``state``); :func:`finish_authorization` takes
the URL Spotify redirected to (or just its ``code``), checks the ``state`` and stores the token
through a :class:`spotipy.CacheHandler`. Timbre's handler keeps it in a mapping (the browser
session's state in the app, a dict in the CLI): never in a file that other sessions could read.

Fetching follows the Last.fm connector (``timbre/sources/live.py``): each kind is written in one
transaction, requests share a rate limiter, transient failures are retried with backoff, and a
429 waits as long as its ``Retry-After`` says. Audio features are off by default: Spotify answers
403 to apps registered after 27 November 2024; when asked for and refused, the result says so
and the content model keeps using the catalogue's features, joined by track and artist name.
"""

from __future__ import annotations

import logging
import random
import secrets as token_source
import threading
import time
import warnings
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import requests
import spotipy
from requests.adapters import HTTPAdapter
from spotipy.cache_handler import CacheHandler
from spotipy.oauth2 import SpotifyOauthError, SpotifyPKCE

from timbre.errors import DataError, ParameterError, SourceError, TimbreError
from timbre.records import AUDIO_FEATURES, ImportBatch, ImportReport, link_key
from timbre.sources.live import (
    Cancelled,
    Failure,
    FetchProgress,
    FetchResult,
    GaveUp,
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

SOURCE = "spotify"
DEFAULT_API_ROOT = "https://api.spotify.com/v1/"
DEFAULT_ACCOUNTS_ROOT = "https://accounts.spotify.com/"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8501/Data"
SCOPES: tuple[str, ...] = ("user-top-read", "user-read-recently-played", "user-library-read")
KINDS: tuple[str, ...] = ("top-tracks", "top-artists", "recent", "saved", "audio-features")
#: Audio features are refused (403) to apps registered after 27 Nov 2024: ask for them explicitly.
DEFAULT_KINDS: tuple[str, ...] = ("top-tracks", "top-artists", "recent", "saved")
TIME_RANGES: tuple[str, ...] = ("short_term", "medium_term", "long_term")
DATASETS: dict[str, str] = {
    "top-tracks": "spotify-tracks",
    "saved": "spotify-tracks",
    "top-artists": "spotify-artists",
    "recent": "spotify-plays",
}
USER_PREFIX = "spotify:user:"
#: How long a started authorisation may wait for its redirect.
AUTH_TTL_S = 600.0
_AUDIO_FEATURES_403 = (
    "Spotify refused audio features (403): apps registered after 27 Nov 2024 cannot read them. "
    "Nothing is lost: the content model uses the catalogue's audio features for tracks matched "
    "by artist and title"
)


class _Malformed(Exception):
    """A 200 answer whose body is not the JSON object the endpoint always returns."""


def parse_kinds(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """Spotify kinds from ``"top-tracks,recent"`` or a list, in fetch order; ``None``: the
    defaults."""
    return parse_kinds_of(text, KINDS, DEFAULT_KINDS, "Spotify")


def check_redirect_uri(uri: str) -> str:
    """A redirect URI Spotify accepts: ``https://...`` or ``http://127.0.0.1:PORT/...``.

    Raises
    ------
    SourceError
        ``localhost``, plain ``http`` elsewhere, or no port on the loopback address.

    Examples
    --------
    >>> check_redirect_uri("http://127.0.0.1:8501/Data")
    'http://127.0.0.1:8501/Data'
    """
    parts = urlsplit(str(uri).strip())
    if parts.scheme == "https" and parts.hostname:
        return str(uri).strip()
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "[::1]", "::1") and parts.port:
        return str(uri).strip()
    raise SourceError(
        f"Spotify redirect URI {uri!r} is refused by Spotify: use https://... or "
        "http://127.0.0.1:PORT/... (not 'localhost'), and register the same URI in the app"
    )


@dataclass(frozen=True)
class SpotifyOptions:
    """How to reach Spotify and how much to fetch.

    Parameters
    ----------
    client_id
        The Spotify app's client id (PKCE needs no secret).
    redirect_uri
        Registered in the app; see :func:`check_redirect_uri`.
    api_root, accounts_root
        Service URLs (``TIMBRE_SPOTIFY_API_ROOT`` / ``TIMBRE_SPOTIFY_ACCOUNTS_ROOT``).
    rate, timeout, retry
        As for Last.fm; a 429's ``Retry-After`` replaces the backoff.
    top_limit
        Top tracks / artists per time range (Spotify serves up to 50 per page).
    saved_limit
        Saved tracks to read (``None``: all).
    """

    client_id: str
    redirect_uri: str = DEFAULT_REDIRECT_URI
    api_root: str = DEFAULT_API_ROOT
    accounts_root: str = DEFAULT_ACCOUNTS_ROOT
    rate: float = 10.0
    timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    top_limit: int = 50
    saved_limit: int | None = None
    page_size: int = 50

    def __post_init__(self) -> None:
        if not str(self.client_id or "").strip():
            raise SourceError(
                "no Spotify client id: set spotify_client_id in .streamlit/secrets.toml or "
                "SPOTIFY_CLIENT_ID in the environment (create an app at "
                "https://developer.spotify.com/dashboard)"
            )
        check_redirect_uri(self.redirect_uri)
        if not 1 <= self.page_size <= 50:
            raise ParameterError(f"page_size must be within 1..50, got {self.page_size}")

    @property
    def api_prefix(self) -> str:
        return self.api_root if self.api_root.endswith("/") else self.api_root + "/"

    @property
    def accounts_prefix(self) -> str:
        root = self.accounts_root
        return root if root.endswith("/") else root + "/"


# --- tokens -------------------------------------------------------------------------------------
class MappingTokenCache(CacheHandler):
    """Keep Spotify's token in a mapping (``st.session_state`` in the app; a dict in the CLI).

    spotipy's default ``CacheFileHandler`` writes ``.cache`` in the working folder, which every
    browser session of a shared app would read: this handler never touches a file.
    """

    def __init__(self, mapping: MutableMapping[str, Any], key: str = "spotify_token") -> None:
        self.mapping = mapping
        self.key = key

    def get_cached_token(self) -> dict[str, Any] | None:
        token = self.mapping.get(self.key)
        return dict(token) if token else None

    def save_token_to_cache(self, token_info: dict[str, Any]) -> None:
        self.mapping[self.key] = dict(token_info)

    def clear(self) -> None:
        """Forget the token (disconnect)."""
        self.mapping.pop(self.key, None)

    def secrets(self) -> tuple[str, ...]:
        """The current access and refresh tokens (for redaction)."""
        token = self.get_cached_token() or {}
        return tuple(str(token[k]) for k in ("access_token", "refresh_token") if token.get(k))


class _PKCE(SpotifyPKCE):
    """spotipy's PKCE manager that never prompts on a terminal or opens a local server."""

    def _get_auth_response(self, open_browser: bool | None = None) -> str:
        raise UserFetchError(
            "not connected to Spotify, or the authorisation has expired: connect again"
        )


def _auth_manager(
    options: SpotifyOptions, cache: CacheHandler, session: requests.Session | None = None
) -> _PKCE:
    auth = _PKCE(
        client_id=options.client_id.strip(),
        redirect_uri=check_redirect_uri(options.redirect_uri),
        scope=" ".join(SCOPES),
        cache_handler=cache,
        open_browser=False,
        requests_timeout=options.timeout,
        requests_session=session or requests.Session(),
    )
    auth.OAUTH_AUTHORIZE_URL = options.accounts_prefix + "authorize"
    auth.OAUTH_TOKEN_URL = options.accounts_prefix + "api/token"
    return auth


@dataclass(frozen=True)
class PendingAuthorization:
    """A started sign-in: the link to open and the one-time PKCE verifier (never shown)."""

    state: str
    url: str
    code_verifier: str = field(repr=False)
    code_challenge: str = field(repr=False)
    created: float = field(default_factory=time.monotonic)


class PendingAuthorizations:
    """Started sign-ins by ``state``, in memory, each usable once and for ``ttl`` seconds.

    The app keeps one per process: the redirect back from Spotify opens a new browser session,
    which finds its verifier here by the unguessable ``state`` in the URL.
    """

    def __init__(self, ttl: float = AUTH_TTL_S, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, PendingAuthorization] = {}

    def add(self, pending: PendingAuthorization) -> None:
        with self._lock:
            now = self._clock()
            self._pending = {s: p for s, p in self._pending.items() if now - p.created < self.ttl}
            self._pending[pending.state] = pending

    def pop(self, state: str | None) -> PendingAuthorization | None:
        """The sign-in started with ``state`` (removed), or ``None`` if unknown or expired."""
        if not state:
            return None
        with self._lock:
            pending = self._pending.pop(state, None)
        if pending is None or self._clock() - pending.created >= self.ttl:
            return None
        return pending

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)


def start_authorization(options: SpotifyOptions) -> PendingAuthorization:
    """Make the Spotify sign-in link (PKCE, S256) and its one-time verifier."""
    auth = _auth_manager(options, MappingTokenCache({}))
    auth.get_pkce_handshake_parameters()
    state = token_source.token_urlsafe(24)
    return PendingAuthorization(
        state=state,
        url=auth.get_authorize_url(state=state),
        code_verifier=auth.code_verifier,
        code_challenge=auth.code_challenge,
    )


def parse_redirect(redirected: str) -> tuple[str | None, str]:
    """``(state, code)`` from the URL Spotify redirected to (or a bare code).

    Raises
    ------
    SourceError
        Spotify reported an error (e.g. ``access_denied``) or there is no code.
    """
    text = str(redirected or "").strip()
    if not text:
        raise SourceError("paste the whole address Spotify sent you to (it holds ?code=...)")
    if "://" not in text and "=" not in text:
        return None, text
    try:
        state, code = SpotifyPKCE.parse_auth_response_url(text)
    except SpotifyOauthError as exc:
        reason = getattr(exc, "error", None) or "error"
        raise SourceError(
            f"Spotify did not authorise Timbre ({reason}); connect again and choose Agree"
        ) from None
    if not code:
        raise SourceError(
            "that address has no ?code=...: paste the whole address Spotify sent you to"
        )
    return state, str(code)


def finish_authorization(
    options: SpotifyOptions,
    pending: PendingAuthorization | None,
    redirected: str,
    cache: CacheHandler,
) -> None:
    """Exchange the code from Spotify's redirect for a token, stored through ``cache``.

    Raises
    ------
    SourceError
        No matching sign-in (expired, used, or from another session), Spotify refused, or the
        accounts service cannot be reached. Nothing is stored.
    """
    state, code = parse_redirect(redirected)
    if pending is None or (state is not None and state != pending.state):
        raise SourceError(
            "this sign-in is unknown, used or older than 10 minutes (state mismatch): connect again"
        )
    install_log_redaction(code, pending.code_verifier)
    auth = _auth_manager(options, cache)
    auth.code_verifier = pending.code_verifier
    auth.code_challenge = pending.code_challenge
    try:
        auth.get_access_token(code=code, check_cache=False)
    except SpotifyOauthError as exc:
        detail = getattr(exc, "error_description", None) or getattr(exc, "error", None)
        raise SourceError(
            f"Spotify refused the sign-in code ({detail or 'error'}): connect again"
        ) from None
    except requests.RequestException as exc:
        raise SourceError(
            f"cannot reach Spotify's accounts service ({type(exc).__name__}); try again"
        ) from None
    install_log_redaction(*_token_values(cache))


def _token_values(cache: CacheHandler) -> tuple[str, ...]:
    token = cache.get_cached_token() or {}
    return tuple(str(token[k]) for k in ("access_token", "refresh_token") if token.get(k))


# --- the client -------------------------------------------------------------------------------
class _LimitedAdapter(HTTPAdapter):
    """Every request waits for the shared rate limiter (no automatic retries here)."""

    def __init__(self, limiter: RateLimiter, cancel: threading.Event) -> None:
        super().__init__(max_retries=0)
        self._limiter = limiter
        self._cancel = cancel

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self._limiter.acquire(self._cancel)
        return super().send(request, *args, **kwargs)


class SpotifyClient:
    """spotipy with Timbre's rate limit, timeout, retry policy (``Retry-After``) and redaction.

    Raises
    ------
    SourceError
        Not connected (no token in ``cache``).
    """

    def __init__(
        self,
        options: SpotifyOptions,
        cache: MappingTokenCache,
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], object] | None = None,
        rng: random.Random | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        if cache.get_cached_token() is None:
            raise SourceError("not connected to Spotify: connect first (sign in with Spotify)")
        install_log_redaction(*cache.secrets())
        self.options = options
        self.cache = cache
        self.limiter = limiter or RateLimiter(options.rate)
        self.cancel = cancel or threading.Event()
        self._sleep = sleep or self.cancel.wait
        self._rng = rng or random.Random()
        session = requests.Session()
        adapter = _LimitedAdapter(self.limiter, self.cancel)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self._session = session
        self.auth = _auth_manager(options, cache)
        self.sp = spotipy.Spotify(
            auth_manager=self.auth,
            requests_session=session,
            requests_timeout=options.timeout,
            retries=0,
            status_retries=0,
        )
        self.sp.prefix = options.api_prefix
        self.retries = 0

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.cache.secrets()

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> SpotifyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, fn: Callable[..., Any], *args: Any, what: str, **kwargs: Any) -> dict[str, Any]:
        """One request (retried as the policy says); the JSON object it returned."""

        def once() -> dict[str, Any]:
            try:
                result = fn(*args, **kwargs)
            finally:  # a refresh may have stored new tokens: mask them too
                install_log_redaction(*self.cache.secrets())
            if not isinstance(result, dict):
                raise _Malformed(f"{what}: not a JSON object")
            return result

        def on_retry(attempt: int, failure: Failure, delay: float) -> None:
            self.retries += 1

        def classify(exc: Exception) -> Failure:
            failure = classify_error(exc, self.options.timeout)
            return Failure(failure.kind, redact(failure.message, self.secrets), failure.wait)

        return call_with_retry(
            once,
            classify,
            self.options.retry,
            what=what,
            sleep=self._sleep,
            rng=self._rng,
            cancel=self.cancel,
            on_retry=on_retry,
        )


def classify_error(exc: Exception, timeout: float = 10.0) -> Failure:
    """Sort a spotipy / requests failure: retry (429 with its wait, 5xx, network, malformed)
    or end the fetch (401, 403, 404, a refused token refresh).

    Raises
    ------
    Exception
        ``exc`` itself when it is neither a service nor a network failure.
    """
    if isinstance(exc, spotipy.SpotifyException):
        status = int(exc.http_status or 0)
        if status == 429:
            headers = exc.headers or {}
            try:
                wait = float(headers.get("Retry-After") or headers.get("retry-after") or 1)
            except (TypeError, ValueError):
                wait = 1.0
            return Failure("retry", "Spotify rate limit (429)", wait=max(wait, 0.0))
        if status >= 500:
            return Failure("retry", f"Spotify answered HTTP {status}")
        if status == 401:
            return Failure("user", "Spotify refused the access token (401): connect again")
        if status == 403:
            return Failure(
                "user",
                "Spotify refused access (403): the app may lack this endpoint, or (development "
                "mode) this account is not one of the app's users",
            )
        if status == 404:
            return Failure("user", "Spotify: not found (404)")
        return Failure("user", f"Spotify error {status}")
    if isinstance(exc, SpotifyOauthError):
        return Failure("user", "Spotify refused to renew the sign-in: connect again")
    if isinstance(exc, requests.Timeout):
        return Failure("retry", f"no answer from Spotify within {timeout:g} s")
    if isinstance(exc, requests.RequestException):
        return Failure("retry", f"network error talking to Spotify ({type(exc).__name__})")
    if isinstance(exc, _Malformed | KeyError | TypeError | ValueError):
        return Failure("retry", "malformed response from Spotify")
    raise exc


# --- fetching -----------------------------------------------------------------------------------
def track_key(track: dict[str, Any]) -> str:
    """``spotify:track:<id>`` (what the account-export importer uses), or a name key for local
    files without an id."""
    ident = track.get("id")
    if ident:
        return f"spotify:track:{ident}"
    linked = link_key("track", track.get("name"), _first_artist(track))
    return f"spotify:name:{linked}" if linked else ""


def _first_artist(track: dict[str, Any]) -> str | None:
    artists = track.get("artists") or []
    return str(artists[0].get("name")) if artists and artists[0].get("name") else None


@dataclass
class _Tracks:
    """Tracks met in a fetch, by key: (name, first artist)."""

    rows: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def add(self, track: dict[str, Any]) -> str:
        key = track_key(track)
        if key:
            self.rows.setdefault(key, (str(track.get("name") or key), _first_artist(track)))
        return key

    def items(self, keys: Sequence[str]) -> pd.DataFrame:
        rows = [(k, *self.rows[k]) for k in dict.fromkeys(keys) if k in self.rows]
        frame = pd.DataFrame(rows, columns=["key", "name", "artist"])
        frame["kind"] = "track"
        frame["link_key"] = [
            link_key("track", n, a) for n, a in zip(frame["name"], frame["artist"], strict=True)
        ]
        return frame[["key", "kind", "name", "artist", "link_key"]]


class SpotifyFetcher:
    """Fetch the signed-in user's listening into the store (one transaction per kind).

    Parameters
    ----------
    store
        Where batches and the fetch log go.
    client
        A connected :class:`SpotifyClient`.
    """

    def __init__(self, store: Store, client: SpotifyClient) -> None:
        self.store = store
        self.client = client
        self.options = client.options

    def fetch(
        self, kinds: Sequence[str] = DEFAULT_KINDS, progress: ProgressCallback | None = None
    ) -> FetchResult:
        """Fetch ``kinds`` for the signed-in user; logs one ``fetch_logs`` row and returns it."""
        kinds = parse_kinds(list(kinds))
        result = FetchResult(source=SOURCE, user="(signed-in user)", user_key="", kinds=kinds)

        def report(stage: str, done: float, message: str) -> None:
            if progress is not None:
                fraction = min(1.0, max(0.0, done / (len(kinds) + 1)))
                progress(FetchProgress(result.user, stage, fraction, message))

        try:
            self._run(kinds, result, report)
        finally:
            result.finish()
            if result.user_key:
                try:
                    log_result(self.store, result, self.client.secrets)
                except TimbreError as exc:
                    log.warning("could not write the Spotify fetch log: %s", exc)
            if progress is not None:
                progress(
                    FetchProgress(
                        result.user,
                        "done",
                        1.0,
                        result.error or f"{result.rows:,} new rows",
                        result,
                    )
                )
        return result

    def _run(
        self, kinds: tuple[str, ...], result: FetchResult, report: Callable[[str, float, str], None]
    ) -> None:
        report("profile", 0, "reading your profile")
        retries_before = self.client.retries
        try:
            me = self.client.call(self.client.sp.current_user, what="your Spotify profile")
        except (UserFetchError, RunRefused, GaveUp, Cancelled) as exc:
            result.fatal = str(exc)
            result.user_key = USER_PREFIX + "unknown"
            return
        ident = str(me.get("id") or "").strip()
        if not ident:
            result.fatal = "Spotify's profile answer has no user id"
            result.user_key = USER_PREFIX + "unknown"
            return
        result.user = str(me.get("display_name") or ident)
        result.user_key = USER_PREFIX + ident
        tracks = _Tracks()
        steps = {
            "top-tracks": self._top_tracks,
            "top-artists": self._top_artists,
            "recent": self._recent,
            "saved": self._saved,
            "audio-features": self._audio_features,
        }
        for position, kind in enumerate(kinds, start=1):

            def step(fraction: float, message: str, _p: int = position, _k: str = kind) -> None:
                report(_k, _p - 1 + fraction, message)

            step(0.0, f"{kind}: starting")
            try:
                steps[kind](result, tracks, step)
            except (UserFetchError, RunRefused) as exc:
                result.errors[kind] = str(exc)
                if "connect again" in str(exc):  # the token is gone: nothing else will work
                    result.fatal = str(exc)
                    break
            except Cancelled:
                result.errors[kind] = result.fatal = "cancelled before it finished"
                break
            except (GaveUp, SourceError, DataError, TimbreError) as exc:
                result.errors[kind] = str(exc)
        result.retries = self.client.retries - retries_before

    def _pages(
        self,
        first: Callable[[], dict[str, Any]],
        want: int | None,
        what: str,
        step: Callable[[float, str], None],
    ) -> list[dict[str, Any]]:
        """Items of a paging object and its ``next`` pages, up to ``want`` (``None``: all)."""
        page = self.client.call(first, what=f"{what}, page 1")
        items: list[dict[str, Any]] = []
        number = 1
        while True:
            batch = page.get("items")
            if not isinstance(batch, list):
                raise GaveUp(f"{what}: the answer has no item list")
            items.extend(i for i in batch if isinstance(i, dict))
            total = int(page.get("total") or len(items))
            step(0.9 * min(1.0, len(items) / max(total, 1)), f"{what}: {len(items)} of {total}")
            if not page.get("next") or not batch or (want is not None and len(items) >= want):
                break
            number += 1
            page = self.client.call(self.client.sp.next, page, what=f"{what}, page {number}")
        return items if want is None else items[:want]

    def _write(
        self,
        kind: str,
        result: FetchResult,
        items: pd.DataFrame,
        interactions: pd.DataFrame,
        report: ImportReport,
        tags: pd.DataFrame | None = None,
        features: pd.DataFrame | None = None,
    ) -> None:
        batch = ImportBatch(
            dataset=DATASETS.get(kind, ""),
            source=SOURCE,
            report=report,
            items=items.drop_duplicates("key").reset_index(drop=True),
            users=pd.DataFrame({"key": [result.user_key], "name": [result.user]}),
            interactions=interactions.reset_index(drop=True),
        )
        if tags is not None:
            batch.tags = tags.reset_index(drop=True)
        if features is not None:
            batch.features = features.reset_index(drop=True)
        written = write_kind(self.store, batch)
        result.written[kind] = result.written.get(kind, 0) + new_rows(written)

    def _ranked(
        self, method: Callable[..., Any], what: str, step: Callable[[float, str], None]
    ) -> dict[str, tuple[dict[str, Any], float]]:
        """Objects of the three time ranges with weight sum((n - rank + 1) / n) over ranges."""
        limit = self.options.top_limit
        size = min(self.options.page_size, limit)
        ranked: dict[str, tuple[dict[str, Any], float]] = {}
        for position, time_range in enumerate(TIME_RANGES):

            def sub(fraction: float, message: str, _p: int = position) -> None:
                step((_p + fraction) / len(TIME_RANGES), message)

            objects = self._pages(
                partial(method, limit=size, offset=0, time_range=time_range),
                limit,
                f"{what} ({time_range.replace('_', ' ')})",
                sub,
            )
            n = len(objects)
            for rank, obj in enumerate(objects, start=1):
                key = str(obj.get("id") or obj.get("name") or "")
                if not key:
                    continue
                old = ranked.get(key, (obj, 0.0))[1]
                ranked[key] = (obj, old + (n - rank + 1) / n)
        return ranked

    def _top_tracks(
        self, result: FetchResult, tracks: _Tracks, step: Callable[[float, str], None]
    ) -> None:
        ranked = self._ranked(self.client.sp.current_user_top_tracks, "top tracks", step)
        report = ImportReport(source=SOURCE, dataset=DATASETS["top-tracks"], rows_read=len(ranked))
        keys, weights = [], []
        for obj, weight in ranked.values():
            key = tracks.add(obj)
            if not key:
                report.drop("track without an id or a name")
                continue
            keys.append(key)
            weights.append(weight)
        report.accepted = len(keys)
        result.fetched["top-tracks"] = len(keys)
        self._write(
            "top-tracks",
            result,
            tracks.items(keys),
            _interactions(result.user_key, keys, "top", weights),
            report,
        )

    def _top_artists(
        self, result: FetchResult, tracks: _Tracks, step: Callable[[float, str], None]
    ) -> None:
        ranked = self._ranked(self.client.sp.current_user_top_artists, "top artists", step)
        report = ImportReport(source=SOURCE, dataset=DATASETS["top-artists"], rows_read=len(ranked))
        rows, weights, tag_rows = [], [], []
        for ident, (obj, weight) in ranked.items():
            name = str(obj.get("name") or "").strip()
            if not obj.get("id") or not name:
                report.drop("artist without an id or a name")
                continue
            key = f"spotify:artist:{ident}"
            rows.append((key, "artist", name, None, link_key("artist", name)))
            weights.append(weight)
            for genre in obj.get("genres") or []:  # Spotify's fine-grained genres, as tags
                if str(genre).strip():
                    tag_rows.append((key, "tag", str(genre).strip().lower(), 1.0))
        items = pd.DataFrame(rows, columns=["key", "kind", "name", "artist", "link_key"])
        report.accepted = len(items)
        result.fetched["top-artists"] = len(items)
        self._write(
            "top-artists",
            result,
            items,
            _interactions(result.user_key, list(items["key"]), "top", weights),
            report,
            tags=pd.DataFrame(tag_rows, columns=["item_key", "kind", "tag", "weight"]),
        )

    def _recent(
        self, result: FetchResult, tracks: _Tracks, step: Callable[[float, str], None]
    ) -> None:
        """The last plays since the newest stored one (Spotify keeps only the last 50)."""
        dataset = DATASETS["recent"]
        since = self.store.latest_event_ms(dataset, result.user_key, "play")
        page = self.client.call(
            self.client.sp.current_user_recently_played,
            limit=50,
            after=since,
            what="recently played",
        )
        plays = page.get("items")
        if not isinstance(plays, list):
            raise GaveUp("recently played: the answer has no item list")
        report = ImportReport(source=SOURCE, dataset=dataset, rows_read=len(plays))
        keys, stamps = [], []
        for play in plays:
            track = play.get("track") if isinstance(play, dict) else None
            when = (
                pd.to_datetime(play.get("played_at"), utc=True, errors="coerce") if track else None
            )
            if not isinstance(track, dict) or when is None or pd.isna(when):
                report.drop("play without a track or a time")
                continue
            key = tracks.add(track)
            if not key:
                report.drop("track without an id or a name")
                continue
            keys.append(key)
            stamps.append(when)
        frame = pd.DataFrame({"key": keys, "timestamp": pd.to_datetime(stamps, utc=True)})
        dupes = frame.duplicated()
        report.drop("duplicate play (same track, same time)", int(dupes.sum()))
        frame = frame[~dupes]
        report.accepted = len(frame)
        result.fetched["recent"] = len(frame)
        step(0.9, f"recently played: {len(frame)} plays")
        self._write(
            "recent",
            result,
            tracks.items(list(frame["key"])),
            _interactions(
                result.user_key, list(frame["key"]), "play", [1.0] * len(frame), frame["timestamp"]
            ),
            report,
        )

    def _saved(
        self, result: FetchResult, tracks: _Tracks, step: Callable[[float, str], None]
    ) -> None:
        saved = self._pages(
            lambda: self.client.sp.current_user_saved_tracks(
                limit=self.options.page_size, offset=0
            ),
            self.options.saved_limit,
            "saved tracks",
            step,
        )
        report = ImportReport(source=SOURCE, dataset=DATASETS["saved"], rows_read=len(saved))
        keys = []
        for entry in saved:
            track = entry.get("track")
            key = tracks.add(track) if isinstance(track, dict) else ""
            if not key:
                report.drop("saved entry without a track")
                continue
            keys.append(key)
        keys = list(dict.fromkeys(keys))
        report.accepted = len(keys)
        result.fetched["saved"] = len(keys)
        # a save has no time in the natural key: saving again is the same save
        self._write(
            "saved",
            result,
            tracks.items(keys),
            _interactions(result.user_key, keys, "love", [1.0] * len(keys)),
            report,
        )

    def _audio_features(
        self, result: FetchResult, tracks: _Tracks, step: Callable[[float, str], None]
    ) -> None:
        ids = [k.rsplit(":", 1)[-1] for k in tracks.rows if k.startswith("spotify:track:")]
        if not ids:
            result.notes.append("audio features: no Spotify tracks in this fetch")
            result.fetched["audio-features"] = 0
            return
        rows = []
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                try:
                    answer = self.client.call(
                        lambda c=chunk: {"audio_features": self.client.sp.audio_features(c)},
                        what="audio features",
                    )
                except UserFetchError as exc:
                    if "(403)" in str(exc):
                        raise SourceError(_AUDIO_FEATURES_403) from None
                    raise
            for feats in answer.get("audio_features") or []:
                if isinstance(feats, dict) and feats.get("id"):
                    row: dict[str, object] = {"item_key": f"spotify:track:{feats['id']}"}
                    for column in AUDIO_FEATURES:
                        source = "key" if column == "musical_key" else column
                        value = feats.get(source)
                        row[column] = float(value) if isinstance(value, int | float) else None
                    row["popularity"] = None
                    rows.append(row)
            step(0.9 * min(1.0, (start + 100) / len(ids)), "audio features")
        features = pd.DataFrame(rows, columns=["item_key", *AUDIO_FEATURES, "popularity"])
        report = ImportReport(source=SOURCE, dataset="", rows_read=len(ids))
        report.accepted = len(features)
        result.fetched["audio-features"] = len(features)
        self._write(
            "audio-features",
            result,
            tracks.items(list(features["item_key"])),
            _interactions(result.user_key, [], "play", []),
            report,
            features=features,
        )


def _interactions(
    key: str,
    items: Sequence[str],
    event: str,
    weights: Sequence[float],
    timestamps: pd.Series | None = None,
) -> pd.DataFrame:
    stamps = (
        pd.to_datetime(timestamps, utc=True).to_numpy()
        if timestamps is not None
        else pd.Series(pd.NaT, index=range(len(items)), dtype="datetime64[ns, UTC]").to_numpy()
    )
    return pd.DataFrame(
        {
            "user_key": [key] * len(items),
            "item_key": list(items),
            "event": [event] * len(items),
            "weight": [float(w) for w in weights],
            "timestamp": stamps,
        }
    )
