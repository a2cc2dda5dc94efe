"""Talking to Spotify: spotipy behind Timbre's rate limit, timeout, retries and redaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Unpack

import requests
import spotipy
from requests.adapters import HTTPAdapter
from spotipy.oauth2 import SpotifyOauthError

from timbre.errors import SourceError
from timbre.sources.live import (
    Failure,
    GaveUp,
    LiveClient,
    RateLimiter,
    Step,
    install_log_redaction,
)
from timbre.sources.retry import ClientHooks, Malformed
from timbre.sources.spotify_auth import MappingTokenCache, SpotifyOptions, auth_manager


class _LimitedAdapter(HTTPAdapter):
    """Every request waits for the shared rate limiter (no automatic retries here)."""

    def __init__(self, limiter: RateLimiter, cancel: threading.Event) -> None:
        super().__init__(max_retries=0)
        self._limiter = limiter
        self._cancel = cancel

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self._limiter.acquire(self._cancel)
        return super().send(request, *args, **kwargs)


class SpotifyClient(LiveClient):
    """spotipy with Timbre's rate limit, timeout, retry policy (``Retry-After``) and redaction.

    Parameters
    ----------
    options
        See :class:`~timbre.sources.spotify_auth.SpotifyOptions`.
    cache
        Holds the signed-in user's token (renewed tokens are stored back into it).
    **hooks
        ``limiter``, ``sleep``, ``rng``, ``cancel``: as for
        :class:`~timbre.sources.retry.LiveClient`.

    Raises
    ------
    SourceError
        Not connected (no token in ``cache``).
    """

    def __init__(
        self, options: SpotifyOptions, cache: MappingTokenCache, **hooks: Unpack[ClientHooks]
    ) -> None:
        if cache.get_cached_token() is None:
            raise SourceError("not connected to Spotify: connect first (sign in with Spotify)")
        install_log_redaction(*cache.secrets())
        super().__init__(options.retry, options.rate, **hooks)
        self.options = options
        self.cache = cache
        session = requests.Session()
        adapter = _LimitedAdapter(self.limiter, self.cancel)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self._session = session
        self.auth = auth_manager(options, cache)
        self.sp = spotipy.Spotify(
            auth_manager=self.auth,
            requests_session=session,
            requests_timeout=options.timeout,
            retries=0,
            status_retries=0,
        )
        self.sp.prefix = options.api_prefix

    @property
    def secrets(self) -> tuple[str, ...]:
        """The current access and refresh tokens."""
        return self.cache.secrets()

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def call(self, fn: Callable[..., Any], *args: Any, what: str, **kwargs: Any) -> dict[str, Any]:
        """One request (retried as the policy says); the JSON object it returned.

        Raises
        ------
        UserFetchError
            Spotify refused (401, 403, 404, a refused token refresh).
        GaveUp, Cancelled
            Retries exhausted (or a ``Retry-After`` too long); the run was cancelled.
        """

        def once() -> dict[str, Any]:
            try:
                result = fn(*args, **kwargs)
            finally:  # a refresh may have stored new tokens: mask them too
                install_log_redaction(*self.cache.secrets())
            if not isinstance(result, dict):
                raise Malformed(f"{what}: not a JSON object")
            return result

        return self.request(once, lambda exc: classify_error(exc, self.options.timeout), what=what)

    def pages(
        self, first: Callable[[], dict[str, Any]], want: int | None, what: str, step: Step
    ) -> Iterator[list[dict[str, Any]]]:
        """The items of a paging object and of its ``next`` pages, a page at a time.

        Parameters
        ----------
        first
            Requests the first page.
        want
            Items wanted in all (``None``: every page).
        what, step
            The list's name in messages; progress.

        Yields
        ------
        list of dict
            One page's items (the last page cut to ``want``).

        Raises
        ------
        GaveUp
            A page without an item list.
        """
        page = self.call(first, what=f"{what}, page 1")
        got, number = 0, 1
        while True:
            batch = page.get("items")
            if not isinstance(batch, list):
                raise GaveUp(f"{what}: the answer has no item list")
            items = [i for i in batch if isinstance(i, dict)]
            if want is not None:
                items = items[: want - got]
            got += len(items)
            total = int(page.get("total") or got)
            step(0.9 * min(1.0, got / max(total, 1)), f"{what}: {got} of {total}")
            yield items
            if not page.get("next") or not batch or (want is not None and got >= want):
                break
            number += 1
            page = self.call(self.sp.next, page, what=f"{what}, page {number}")


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
    if isinstance(exc, Malformed | KeyError | TypeError | ValueError):
        return Failure("retry", "malformed response from Spotify")
    raise exc
