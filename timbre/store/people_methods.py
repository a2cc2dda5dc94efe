"""The ``Store``'s people: linked accounts, feedback, the marks that key caches, the JSON
API's keys, and the users of the live connectors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from timbre.errors import DataError, ParameterError
from timbre.store import datasets, keys, people, registry, users
from timbre.store.base import StoreBase
from timbre.store.schema import EVENTS


class PeopleMethods(StoreBase):
    """What the ``Store`` does for people (mixed into :class:`timbre.store.Store`)."""

    # -- people: linked accounts and feedback ---------------------------------------------
    def link_account(self, person_key: str, user_key: str) -> None:
        """Link an account (``lastfm:rj``) to a person (``me``); it replaces an older link."""
        with self._connection(transaction=True) as conn:
            people.link_account(conn, person_key, user_key)

    def unlink_account(self, user_key: str) -> int:
        """Remove an account's link to its person (the number of links removed)."""
        with self._connection(transaction=True) as conn:
            return people.unlink_account(conn, user_key)

    def accounts_of(self, person_key: str, candidates: Sequence[str]) -> list[str]:
        """The user keys of ``candidates`` and of the accounts linked to ``person_key`` that
        name a user in the store (candidates first, in order), in one round trip."""
        with self._connection() as conn:
            linked = people.linked_accounts(conn, person_key)
            wanted = [*candidates, *(k for k in linked if k not in candidates)]
            return datasets.existing_user_keys(conn, wanted)

    def linked_accounts(self, person_key: str) -> list[str]:
        """The accounts linked to a person."""
        with self._connection() as conn:
            return people.linked_accounts(conn, person_key)

    def person_of(self, user_key: str) -> str | None:
        """The person an account is linked to, or ``None``."""
        with self._connection() as conn:
            return people.person_of(conn, user_key)

    def add_feedback(self, person_key: str, item_keys: Sequence[str], event: str, ms: int) -> int:
        """Record a person's ``like`` / ``skip`` / ``block`` of items (one transaction); the
        rows written. Unknown items: ``DataError``, nothing written."""
        with self._connection(transaction=True) as conn:
            return people.add_feedback(conn, person_key, item_keys, event, ms)

    def remove_feedback(self, person_key: str, item_keys: Sequence[str], event: str) -> int:
        """Undo a person's ``event`` on these items; the rows deleted."""
        with self._connection(transaction=True) as conn:
            return people.remove_feedback(conn, person_key, item_keys, event)

    def feedback_of(self, person_keys: Sequence[str]) -> pd.DataFrame:
        """The feedback of these keys, oldest first (``user_key, item_key, event, timestamp``)."""
        with self._connection() as conn:
            return people.feedback_of(conn, person_keys)

    def interaction_marks(self, user_keys: Sequence[str]) -> tuple[Any, ...]:
        """What changes whenever these users' rows change (their interactions in every data
        set, feedback included, and their newest profile; see ``people.interaction_marks``):
        a cache of their lists keys on it."""
        with self._connection() as conn:
            return people.interaction_marks(conn, user_keys)

    def serving_marks(self, dataset: str) -> tuple[int | None, int | None, int, int]:
        """The data set's active and newest run with an artifact and the store's profile
        count and newest profile id (see ``registry.serving_marks``), in one round trip."""
        with self._connection() as conn:
            return registry.serving_marks(conn, dataset)

    def profile_marks(self) -> tuple[int, int]:
        """``(profiles, newest profile id)`` of the whole store (an engine holds them all)."""
        with self._connection() as conn:
            return people.profile_marks(conn)

    # -- keys of the JSON API ----------------------------------------------------------------
    def add_api_key(
        self, name: str, key_hash: str, prefix: str, admin: bool, rate_limit: int
    ) -> int:
        """Record an API key by the SHA-256 of its token (never the token); its id."""
        with self._connection(transaction=True) as conn:
            return keys.add_key(conn, name, key_hash, prefix, admin, rate_limit)

    def list_api_keys(self) -> list[dict[str, Any]]:
        """Every API key, oldest first (``id, name, prefix, admin, rate_limit, created_at,
        revoked_at``), without hashes."""
        with self._connection() as conn:
            return keys.list_keys(conn)

    def api_key_by_hash(self, key_hash: str) -> dict[str, Any] | None:
        """The API key whose token hashes to ``key_hash``, or ``None``."""
        with self._connection() as conn:
            return keys.key_by_hash(conn, key_hash)

    def revoke_api_key(self, key_id: int) -> bool:
        """Revoke an API key (``False``: it was revoked already; ``NotFoundError``: none)."""
        with self._connection(transaction=True) as conn:
            return keys.revoke_key(conn, key_id)

    # -- users of the live connectors -------------------------------------------------------
    def list_users(self, prefix: str = "") -> pd.DataFrame:
        """Users whose key starts with ``prefix`` (``lastfm:``, ``spotify:user:``), by key.

        Returns
        -------
        pandas.DataFrame
            ``key, name, created_at, interactions, datasets`` (comma-separated data set names).
        """
        with self._connection() as conn:
            return users.list_users(conn, prefix)

    def remove_user(self, key: str) -> dict[str, int]:
        """Delete a user and exactly their rows, in one transaction.

        Removed: the user, their interactions (every data set), friendships in either
        direction, their fetch logs, personality profiles and saved recommendations, and data
        sets that this leaves without any interaction. Items (tracks, artists, albums) are shared
        and stay, with their tags and features.

        Returns
        -------
        dict
            Rows removed per table.

        Raises
        ------
        DataError
            No user has this key.
        """
        with self._connection(transaction=True, operation=f"removing user {key!r}") as conn:
            return users.remove_user(conn, key)

    def forget_user(self, key: str, *, dry_run: bool = False) -> dict[str, int]:
        """Delete a person and every row of any table that names them, in one transaction.

        Deleted: the ``users`` row and the rows of every table with a foreign key to it or a
        ``user_key`` column (found in the schema: interactions, user tags, both sides of
        friendships, fetch logs, personality profiles, saved lists, any later table). Kept:
        items, data sets (also those left empty) and model runs with their artifacts. Unlike
        ``remove_user``, a person known only by a profile, log or saved list is forgotten too.
        See ``timbre.store.users.forget_user`` for the counts.

        Parameters
        ----------
        key
            The person's full key (``lastfm:rj``, ``me``).
        dry_run
            Count what would be deleted, then roll back (nothing changes).

        Returns
        -------
        dict
            Rows deleted per table, ``datasets_left_empty`` and ``model_runs_trained_with_user``.

        Raises
        ------
        DataError
            Nothing names ``key``; nothing is deleted.
        """
        return self.forget_users([key], dry_run=dry_run)

    def forget_users(self, keys: Sequence[str], *, dry_run: bool = False) -> dict[str, int]:
        """:meth:`forget_user` for a person's every key (their id and linked accounts) in one
        transaction, counts summed; keys that name nothing are passed over, but when none
        names anything it is a ``DataError`` and nothing changes."""
        total: dict[str, int] = {}
        with self._connection(transaction=not dry_run) as conn:
            errors = []
            for key in dict.fromkeys(keys):
                try:
                    counts = users.forget_user(conn, key)
                except DataError as exc:
                    errors.append(exc)
                    continue
                for table, n in counts.items():
                    total[table] = total.get(table, 0) + n
            if dry_run:
                conn.rollback()
        if not total:
            raise errors[0] if errors else DataError("nobody to forget")
        return total

    def latest_event_ms(self, dataset: str, user_key: str, event: str) -> int | None:
        """The newest timestamp (epoch ms) of a user's ``event`` rows in a data set, or ``None``.

        The live connectors resume a history from here (a missing data set or user is ``None``).

        Raises
        ------
        ParameterError
            ``event`` is not one of ``EVENTS`` (play, top, love, skip).
        """
        if event not in EVENTS:
            raise ParameterError(f"event must be one of {', '.join(EVENTS)}, got {event!r}")
        with self._connection() as conn:
            return users.latest_event_ms(conn, dataset, user_key, event)

    def item_keys_with_tags(self, keys: Iterable[str], kind: str = "tag") -> set[str]:
        """Which of ``keys`` name items that already have tags of ``kind``."""
        with self._connection() as conn:
            return users.item_keys_with_tags(conn, keys, kind)
