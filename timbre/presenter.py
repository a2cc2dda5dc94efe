"""Who may change the store from the app: the bind address and the presenter password.

Three modes (:func:`mode_for`):

* ``open``: the app listens on a loopback address and no presenter password hash is set: a
  personal install, every write allowed.
* ``presenter``: a hash is set: the app is read-only until the presenter unlocks it (per
  browser session) with the password.
* ``demo``: the app listens beyond loopback and no hash is set: read-only, always.

Only a salted PBKDF2-SHA256 hash of the password is ever configured
(``presenter_password_hash`` in ``.streamlit/secrets.toml`` or
``TIMBRE_PRESENTER_PASSWORD_HASH``); ``timbre presenter-hash`` makes one. This module has no
Streamlit import, so the CLI can use it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
from typing import Literal

from timbre.errors import ParameterError, TimbreError

Mode = Literal["open", "presenter", "demo"]

#: The hash's scheme tag: ``pbkdf2_sha256$<iterations>$<salt>$<digest>`` (base64, no padding).
SCHEME = "pbkdf2_sha256"
#: PBKDF2 iterations of a new hash (OWASP's 2023 advice for SHA-256).
ITERATIONS = 600_000
#: Iterations a configured hash may ask for (a hash outside this range is refused).
MIN_ITERATIONS, MAX_ITERATIONS = 1_000, 10_000_000
#: Longest password accepted (PBKDF2 of a huge input would be a cheap denial of service).
MAX_PASSWORD = 1024


class ReadOnlyError(TimbreError):
    """A write was asked of an app that is read-only for this session."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """A salted PBKDF2-SHA256 hash of ``password`` in the configured form.

    >>> h = hash_password("s3cret", iterations=1000, salt=b"0123456789abcdef")
    >>> h.split("$")[:2]
    ['pbkdf2_sha256', '1000']
    >>> verify_password("s3cret", h), verify_password("S3cret", h)
    (True, False)
    """
    if not password:
        raise ParameterError("the presenter password must not be empty")
    if len(password) > MAX_PASSWORD:
        raise ParameterError(f"the presenter password is longer than {MAX_PASSWORD} characters")
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def parse_hash(encoded: str) -> tuple[int, bytes, bytes]:
    """The iterations, salt and digest of a configured hash.

    Raises
    ------
    ParameterError
        If it is not a hash :func:`hash_password` makes (the message never repeats it).
    """
    parts = encoded.strip().split("$")
    try:
        scheme, rounds, salt, digest = parts
        iterations = int(rounds)
        values = iterations, _unb64(salt), _unb64(digest)
    except ValueError:
        raise ParameterError(
            "the presenter password hash is malformed: make one with `timbre presenter-hash`"
        ) from None
    if scheme != SCHEME or not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ParameterError(
            f"the presenter password hash must be {SCHEME} with {MIN_ITERATIONS:,} to "
            f"{MAX_ITERATIONS:,} iterations: make one with `timbre presenter-hash`"
        )
    if len(values[1]) < 8 or len(values[2]) != 32:
        raise ParameterError("the presenter password hash has a short salt or a wrong digest")
    return values


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches the hash (a constant-time comparison of the digests); a
    malformed hash matches nothing."""
    try:
        iterations, salt, expected = parse_hash(encoded)
    except ParameterError:
        return False
    if not password or len(password) > MAX_PASSWORD:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(digest, expected)


def is_loopback(address: str | None) -> bool:
    """Whether the server listens on loopback only (``None``/empty: every interface).

    >>> [is_loopback(a) for a in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "", None)]
    [True, True, True, False, False, False]
    """
    if not address:
        return False
    host = address.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def mode_for(address: str | None, password_hash: str | None) -> Mode:
    """The app's mode for its bind address and the configured hash (see the module)."""
    if password_hash:
        return "presenter"
    return "open" if is_loopback(address) else "demo"
