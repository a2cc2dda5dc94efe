"""The ``Store``'s records: fetch logs, personality profiles, model runs and saved lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from timbre.store import registry
from timbre.store.base import StoreBase, count_argument


class RecordMethods(StoreBase):
    """What the ``Store`` records (mixed into :class:`timbre.store.Store`)."""

    # -- logs, profiles, runs ------------------------------------------------------------------
    def add_fetch_log(self, **values: object) -> int:
        """Record one fetch (``user_key, source, kinds, started_at, status, ...``)."""
        with self._connection(transaction=True) as conn:
            return registry.add_fetch_log(conn, values)

    def start_fetch_logs(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Record fetches that start now as ``running`` (``user_key, source, kinds, pid, host``,
        ...), in one transaction that first closes the interrupted ones; their ids.

        Raises
        ------
        StorageError
            The database refused (or stayed busy): nothing is recorded.
        """
        with self._connection(transaction=True) as conn:
            return registry.start_fetch_logs(conn, rows)

    def update_fetch_log(self, log_id: int, **values: object) -> None:
        """Set ``values`` (``status``, ``rows``, ``finished_at``, ...) in one fetch log; its
        ``updated_at`` becomes now (a running fetch's sign of life)."""
        with self._connection(transaction=True) as conn:
            registry.update_fetch_log(conn, log_id, values)

    def close_interrupted_fetch_logs(self) -> int:
        """Record as ``interrupted`` every ``running`` fetch log whose process is gone (see
        ``registry.interruption``); how many."""
        with self._connection(transaction=True) as conn:
            return registry.close_interrupted(conn)

    def list_fetch_logs(self, limit: int = 500) -> pd.DataFrame:
        """Newest fetch logs first, at most ``limit`` of them (a whole number, 0 or more).

        A ``running`` log whose process is gone reads ``interrupted`` (with why in ``error``).

        Raises
        ------
        ParameterError
            A negative or fractional ``limit``.
        """
        count = count_argument("limit", limit)
        with self._connection() as conn:
            return registry.list_fetch_logs(conn, count)

    def add_profile(
        self,
        user_key: str,
        instrument: str,
        answers: dict[str, Any],
        scores: dict[str, Any],
        percentiles: dict[str, Any],
    ) -> int:
        """Store a personality profile (a retake adds a new row; the latest is used)."""
        values = {
            "user_key": user_key,
            "instrument": instrument,
            "answers": answers,
            "scores": scores,
            "percentiles": percentiles,
        }
        with self._connection(transaction=True) as conn:
            return registry.add_profile(conn, values)

    def list_profiles(self, user_key: str | None = None) -> list[dict[str, Any]]:
        """Profiles, newest first (optionally of one user)."""
        with self._connection() as conn:
            return registry.list_profiles(conn, user_key)

    def latest_profile(self, user_key: str) -> dict[str, Any] | None:
        """The newest profile of a user, or ``None``."""
        profiles = self.list_profiles(user_key)
        return profiles[0] if profiles else None

    def add_model_run(
        self,
        model: str,
        params: dict[str, Any],
        dataset: str,
        fingerprint: str,
        metrics: dict[str, Any] | None = None,
        duration_s: float | None = None,
        artifact_path: str | None = None,
        checksum: str | None = None,
    ) -> int:
        """Record a training run (``checksum``: the SHA-256 of its artifact); returns its id."""
        values = {
            "model": model,
            "params": params,
            "dataset": dataset,
            "fingerprint": fingerprint,
            "metrics": metrics or {},
            "duration_s": duration_s,
            "artifact_path": artifact_path,
            "checksum": checksum,
        }
        with self._connection(transaction=True) as conn:
            return registry.add_model_run(conn, values)

    def list_model_runs(self) -> list[dict[str, Any]]:
        """Training runs, newest first."""
        with self._connection() as conn:
            return registry.list_model_runs(conn)

    def set_active_run(self, run_id: int) -> None:
        """Make one run the active model of its data set.

        Raises
        ------
        DataError
            No run has this id.
        """
        with self._connection(transaction=True) as conn:
            registry.set_active_run(conn, run_id)

    def delete_model_run(self, run_id: int) -> str | None:
        """Delete a run (and its saved recommendations); returns its artifact path."""
        with self._connection(transaction=True) as conn:
            return registry.delete_model_run(conn, run_id)

    def save_recommendations(self, run_id: int, rows: Sequence[dict[str, Any]]) -> int:
        """Store ranked recommendations (``user_key, rank, item_key, score, components``)."""
        with self._connection(transaction=True) as conn:
            return registry.save_recommendations(conn, run_id, rows)

    def list_saved_recommendations(self, user_key: str | None = None) -> list[dict[str, Any]]:
        """Saved recommendations (optionally of one user): ``run_id, user_key, rank, item_key,
        score, components``."""
        with self._connection() as conn:
            return registry.list_saved_recommendations(conn, user_key)
