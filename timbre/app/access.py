"""The app's one access policy: its mode, the presenter's unlock, and the check every write makes.

The mode comes from the address the server listens on and the configured presenter password
hash (:mod:`timbre.presenter`). A page asks :func:`write_gate` before drawing a write control
(disabled, with a one-line reason, when the session may not write) and calls
:func:`require_write` where the write happens, so a crafted rerun that "presses" a disabled
button is refused on the server too. Viewing, tuning and downloads never ask.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import streamlit as st

from timbre.app.state import get_settings
from timbre.config import PRESENTER_HASH
from timbre.errors import ParameterError
from timbre.presenter import Mode, ReadOnlyError, mode_for, parse_hash, verify_password

#: Session keys: the fingerprint of the hash this session unlocked, a one-shot "wrong" flag,
#: and the password box (emptied by the unlock callback: the password is never kept).
_UNLOCKED = "presenter_unlocked"
_WRONG = "presenter_wrong"
_PASSWORD = "presenter_password"

P = ParamSpec("P")
T = TypeVar("T")


def bind_address() -> str | None:
    """The address the server listens on (``server.address``; unset: every interface)."""
    address = st.get_option("server.address")
    return str(address) if address else None


def _hash() -> str | None:
    return get_settings().secret(PRESENTER_HASH)


def _fingerprint(encoded: str) -> str:
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def mode() -> Mode:
    """``open``, ``presenter`` or ``demo`` (see :mod:`timbre.presenter`)."""
    return mode_for(bind_address(), _hash())


def can_write() -> bool:
    """Whether this browser session may change the store."""
    encoded = _hash()
    current = mode_for(bind_address(), encoded)
    if current == "open":
        return True
    if current == "demo" or encoded is None:
        return False
    # unlocked against this very hash: a new hash (a changed password) locks every session
    return st.session_state.get(_UNLOCKED) == _fingerprint(encoded)


def reason(action: str) -> str:
    """Why this session may not ``action`` (a verb phrase: "import", "train a model")."""
    if mode() == "demo":
        return (
            f"Read-only demo: this app is exposed without a presenter password, so it cannot "
            f"{action} (set one to allow it; see README, Exposing the app)."
        )
    return f"Read-only demo: unlock as presenter (in the sidebar) to {action}."


def require_write(action: str) -> None:
    """Refuse (``ReadOnlyError``, which ``guard()`` shows as one line) unless this session may
    write. Called where each write of the app happens."""
    if not can_write():
        raise ReadOnlyError(reason(action))


def writes(action: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorate an app helper that writes: it calls :func:`require_write` first."""

    def decorate(function: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(function)
        def checked(*args: P.args, **kwargs: P.kwargs) -> T:
            require_write(action)
            return function(*args, **kwargs)

        return checked

    return decorate


def write_gate(action: str) -> bool:
    """Whether this session may ``action``; if not, says why in one caption (drawn where the
    controls are). The caller disables its controls with ``disabled=not allowed``."""
    allowed = can_write()
    if not allowed:
        st.caption(reason(action))
    return allowed


def _unlock() -> None:
    """The unlock form's callback: check the password, then forget it."""
    password = str(st.session_state.get(_PASSWORD) or "")
    st.session_state[_PASSWORD] = ""
    encoded = _hash()
    if encoded and verify_password(password, encoded):
        st.session_state[_UNLOCKED] = _fingerprint(encoded)
        st.session_state.pop(_WRONG, None)
    else:
        st.session_state.pop(_UNLOCKED, None)
        st.session_state[_WRONG] = True


def _lock() -> None:
    st.session_state.pop(_UNLOCKED, None)


def sidebar() -> None:
    """The presenter box in the sidebar: nothing on a personal install; otherwise the mode,
    and the unlock form (or the Lock button) when a presenter password is set."""
    current = mode()
    if current == "open":
        return
    box = st.sidebar.container(border=True)
    if current == "demo":
        box.caption(
            "Read-only demo: exposed without a presenter password. Viewing, tuning and "
            "downloads work; imports, fetches, training and deletes are off."
        )
        return
    try:
        parse_hash(_hash() or "")
    except ParameterError as exc:  # never unlockable: say so (the hash itself is not shown)
        box.error(f"Read-only: {exc}.")
        return
    if can_write():
        box.caption("Unlocked as presenter (this browser session only).")
        box.button("Lock", key="presenter_lock", on_click=_lock)
        return
    box.caption("Read-only demo. The presenter unlocks imports, fetches, training and deletes.")
    with box.form("presenter_form", clear_on_submit=True, border=False):
        st.text_input("Presenter password", type="password", key=_PASSWORD)
        st.form_submit_button("Unlock", key="presenter_unlock", on_click=_unlock)
    if st.session_state.pop(_WRONG, False):
        box.error("Wrong presenter password: still read-only.")


__all__ = [
    "ReadOnlyError",
    "bind_address",
    "can_write",
    "mode",
    "reason",
    "require_write",
    "sidebar",
    "write_gate",
    "writes",
]
