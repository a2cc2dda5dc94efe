"""Spotify sign-in: PKCE with a checked redirect, the token kept in a mapping, never a file.

Authorisation is PKCE (no client secret) with a ``http://127.0.0.1:PORT`` or ``https://``
redirect (Spotify refuses ``localhost`` since November 2025). The flow is split in two so that a
web page can drive it: :func:`start_authorization` makes the link and a one-time verifier that
the caller keeps in memory (keyed by the link's ``state``); :func:`finish_authorization` takes
the URL Spotify redirected to (or just its ``code``), checks the ``state`` and stores the token
through a :class:`spotipy.CacheHandler`. Timbre's handler keeps it in a mapping (the browser
session's state in the app, a dict in the CLI): never in a file that other sessions could read.
"""

from __future__ import annotations

import secrets as token_source
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from spotipy.cache_handler import CacheHandler
from spotipy.oauth2 import SpotifyOauthError, SpotifyPKCE

from timbre.errors import SourceError
from timbre.sources.live import RetryPolicy, UserFetchError, install_log_redaction
from timbre.sources.retry import CheckedOptions, bounded

DEFAULT_API_ROOT = "https://api.spotify.com/v1/"
DEFAULT_ACCOUNTS_ROOT = "https://accounts.spotify.com/"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8501/Data"
SCOPES: tuple[str, ...] = ("user-top-read", "user-read-recently-played", "user-library-read")
#: How long a started authorisation may wait for its redirect.
AUTH_TTL_S = 600.0


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
class SpotifyOptions(CheckedOptions):
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
    page_size
        Items per request of paged lists (1 to 50).

    Raises
    ------
    SourceError
        No client id, or a redirect URI Spotify refuses.
    ParameterError
        A page size out of range.
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
    page_size: int = bounded(50, 1, 50)

    def __post_init__(self) -> None:
        if not str(self.client_id or "").strip():
            raise SourceError(
                "no Spotify client id: set spotify_client_id in .streamlit/secrets.toml or "
                "SPOTIFY_CLIENT_ID in the environment (create an app at "
                "https://developer.spotify.com/dashboard)"
            )
        check_redirect_uri(self.redirect_uri)
        super().__post_init__()

    @property
    def api_prefix(self) -> str:
        """``api_root`` ending in ``/``."""
        return self.api_root if self.api_root.endswith("/") else self.api_root + "/"

    @property
    def accounts_prefix(self) -> str:
        """``accounts_root`` ending in ``/``."""
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
        """A copy of the stored token, or ``None`` when not connected."""
        token = self.mapping.get(self.key)
        return dict(token) if token else None

    def save_token_to_cache(self, token_info: dict[str, Any]) -> None:
        """Store (a copy of) a new or renewed token."""
        self.mapping[self.key] = dict(token_info)

    def clear(self) -> None:
        """Forget the token (disconnect)."""
        self.mapping.pop(self.key, None)

    def secrets(self) -> tuple[str, ...]:
        """The current access and refresh tokens (for redaction)."""
        return token_values(self)


class _PKCE(SpotifyPKCE):
    """spotipy's PKCE manager that never prompts on a terminal or opens a local server."""

    def _get_auth_response(self, open_browser: bool | None = None) -> str:
        raise UserFetchError(
            "not connected to Spotify, or the authorisation has expired: connect again"
        )


def auth_manager(
    options: SpotifyOptions, cache: CacheHandler, session: requests.Session | None = None
) -> SpotifyPKCE:
    """spotipy's PKCE manager for ``options``, keeping its token in ``cache`` (never prompts)."""
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
        """Keep a started sign-in (and forget the expired ones)."""
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
    auth = auth_manager(options, MappingTokenCache({}))
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
    auth = auth_manager(options, cache)
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
    install_log_redaction(*token_values(cache))


def token_values(cache: CacheHandler) -> tuple[str, ...]:
    """The access and refresh tokens ``cache`` holds now (what redaction must mask)."""
    token = cache.get_cached_token() or {}
    return tuple(str(token[k]) for k in ("access_token", "refresh_token") if token.get(k))
