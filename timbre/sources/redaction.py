"""Keeping secrets out of log lines, error texts and the database."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable


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
        """Mask the record's message in place; never drops a record."""
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
    "timbre.sources.retry",
    "timbre.sources.lastfm",
    "timbre.sources.lastfm_client",
    "timbre.sources.lastfm_kinds",
    "timbre.sources.spotify",
    "timbre.sources.spotify_auth",
    "timbre.sources.spotify_client",
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
