"""What one API process holds: the store, the engine of the active run, the cache, the rate
limiter and the metrics. The engine is rebuilt when the active run (or a profile) changes."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from timbre.api.cache import ResponseCache, open_cache
from timbre.api.errors import ApiError
from timbre.api.limits import RateLimiter
from timbre.api.metrics import ApiMetrics
from timbre.config import Settings
from timbre.errors import NotFoundError, TimbreError
from timbre.hybrid import HybridEngine
from timbre.models.content import Content
from timbre.services.data import load_data
from timbre.services.engines import engine_for_run
from timbre.services.runs import Run, choose_run, default_dataset, staleness
from timbre.store import Store


@dataclass(frozen=True)
class Served:
    """The engine of one run, what it was built for, and when."""

    run: Run
    engine: HybridEngine
    #: ``Store.serving_marks`` when it was built: a change rebuilds the engine.
    marks: tuple[int | None, int | None, int, int]
    loaded_at: float
    stale: str

    @property
    def run_id(self) -> int:
        return int(self.run["id"])

    def model_age_s(self) -> float:
        """Seconds since the run was trained."""
        created = self.run.get("created_at")
        if not isinstance(created, datetime):
            return time.time() - self.loaded_at
        moment = created if created.tzinfo else created.replace(tzinfo=UTC)
        return max(0.0, (datetime.now(UTC) - moment).total_seconds())


class Server:
    """The API's state (one per app).

    Parameters
    ----------
    settings
        Where the store is (``--home`` / ``--db``).
    dataset
        The data set served (default: the demo's, or the only one).
    cache
        Where responses are cached (default: Redis when ``TIMBRE_REDIS_URL`` is set, else
        this process).
    limiter
        The per-key rate limiter.
    """

    def __init__(
        self,
        settings: Settings,
        dataset: str | None = None,
        cache: ResponseCache | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.store = Store.open(settings)
        self.dataset = dataset
        self.cache = cache if cache is not None else open_cache()
        self.limiter = limiter or RateLimiter()
        self.metrics = ApiMetrics()
        self._served: Served | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self.store.close()

    def dataset_name(self) -> str:
        """The data set served."""
        if self.dataset is None:  # resolved once: the default data set does not move
            self.dataset = default_dataset(self.store)
        return self.dataset

    def served(self) -> Served:
        """The engine of the data set's active run (else its newest), built on first use and
        again when the active run or the stored profiles change (checked on every call with
        one query, :meth:`Store.serving_marks`)."""
        dataset = self.dataset_name()
        marks = self.store.serving_marks(dataset)
        current = self._served
        if current is None or current.marks != marks:
            with self._lock:  # one build at a time; the others wait for it
                current = self._served
                if current is None or current.marks != marks:
                    current = self._build(self._run(dataset), marks)
                    self._served = current
        self.metrics.model_age.set(current.model_age_s())
        return current

    def _run(self, dataset: str) -> Run:
        try:
            return choose_run(self.store, dataset)
        except NotFoundError:
            raise
        except TimbreError as exc:  # no data, or no trained model yet
            raise ApiError(503, "no_model", str(exc)) from None

    def _build(self, run: Run, marks: tuple[int | None, int | None, int, int]) -> Served:
        data = load_data(self.store, run["dataset"])
        engine = engine_for_run(self.store, data, run)
        _ = engine.content_model, engine.blocklisted  # fitted now, not in a request
        if isinstance(engine.content_model, Content):
            engine.content_model.keep_profiles()  # every training user's, once per engine
        return Served(run, engine, marks, time.time(), staleness(engine.data, data).text())

    def loaded(self) -> Served | None:
        """The engine built last (``None`` before the first)."""
        return self._served

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether the store answers and a run is loaded, with what and how old."""
        body: dict[str, Any] = {}
        try:
            self.store.schema_revision()
            body["store"] = {"ok": True}
        except Exception as exc:  # a health check reports any failure, it never raises
            body["store"] = {"ok": False, "error": str(exc).splitlines()[0]}
            return False, body
        try:
            served = self.served()
        except Exception as exc:
            body["run"] = {"loaded": False, "error": str(exc).splitlines()[0]}
            return False, body
        body["run"] = {
            "loaded": True,
            "id": served.run_id,
            "model": served.run["model"],
            "dataset": served.run["dataset"],
            "age_seconds": round(served.model_age_s(), 1),
            "stale": served.stale,
        }
        return True, body
