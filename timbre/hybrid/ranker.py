"""The hybrid as an evaluation ranker: its CF and content parts fitted on a split's train part,
its lists ranked through the engine that serves them (same pool, same cold-start schedule)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from timbre.errors import NotFittedError
from timbre.hybrid.engine import HybridEngine
from timbre.hybrid.normalization import Normalization
from timbre.hybrid.panel import ranking_lists
from timbre.hybrid.types import MMRSpace
from timbre.hybrid.weights import DEFAULT_SCHEDULE, ScheduleRule, Weights
from timbre.interactions import InteractionData
from timbre.models import create_model
from timbre.models.base import ProgressCallback

#: Users ranked at once (each holds four components over the catalogue).
BATCH = 256


@dataclass
class HybridRanker:
    """The hybrid score with fixed weights, fitted like a model.

    Parameters
    ----------
    weights
        The fusion weights (and the diversity weight).
    cf_model, cf_params
        The family and hyper-parameters of the CF component, trained on the train part.
    normalization, space
        As in :class:`~timbre.hybrid.HybridEngine`.
    schedule
        The cold-start schedule (``None``: off).
    """

    weights: Weights = field(default_factory=Weights)
    cf_model: str = "als"
    cf_params: Mapping[str, Any] = field(default_factory=dict)
    normalization: Normalization = "minmax"
    space: MMRSpace = "svd"
    schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE
    engine_: HybridEngine | None = field(default=None, init=False, repr=False)

    @property
    def name(self) -> str:
        """``hybrid``."""
        return "hybrid"

    def fit(self, train: InteractionData, progress: ProgressCallback | None = None) -> object:
        """Train the CF model on ``train`` and build the engine (content model, spaces)."""
        model = create_model(self.cf_model, dict(self.cf_params)).fit(train, progress)
        self.engine_ = HybridEngine(train, model, None, None, self.normalization, self.space)
        return self

    def get_params(self) -> dict[str, Any]:
        """Weights, CF family and parameters, normalisation, space and schedule."""
        return {
            "weights": self.weights.as_dict(),
            "cf_model": self.cf_model,
            "cf_params": dict(self.cf_params),
            "normalization": self.normalization,
            "space": self.space,
            "schedule": [
                {"below": r.below, "weights": r.weights.as_dict(), "label": r.label}
                for r in self.schedule or ()
            ],
        }

    def lists(
        self, users: NDArray[np.int64], k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Each user's top ``k`` through :meth:`HybridEngine.rank_many`, a batch at a time,
        computing only the components the weights (after the schedule) use, as the export."""
        engine = self.engine_
        if engine is None:
            raise NotFittedError("the hybrid is not fitted yet: call fit")
        items = np.full((len(users), k), -1, dtype=np.int64)
        scores = np.full((len(users), k), np.nan, dtype=np.float32)
        for start in range(0, len(users), BATCH):
            chunk = np.asarray(users[start : start + BATCH], dtype=np.int64)
            histories = engine.data.items_per_user[chunk].astype(np.int64)
            needs = engine.needs(histories, self.weights, self.schedule)  # what the weights use
            members = engine.components_batch(chunk, needs=needs)
            rankings = engine.rank_many(members, self.weights, k, schedule=self.schedule, reasons=0)
            items[start : start + len(chunk)] = ranking_lists(rankings, k)
            for row, ranking in enumerate(rankings, start=start):
                scores[row, : len(ranking.scores)] = ranking.scores[:k]
        return items, scores


def hybrid_from_params(params: Mapping[str, Any]) -> HybridRanker:
    """A :class:`HybridRanker` from :meth:`HybridRanker.get_params` output (a recorded run)."""
    schedule = tuple(
        ScheduleRule(int(r["below"]), Weights(**r["weights"]), str(r["label"]))
        for r in params.get("schedule", [])
    )
    return HybridRanker(
        weights=Weights(**params["weights"]),
        cf_model=str(params.get("cf_model", "als")),
        cf_params=dict(params.get("cf_params", {})),
        normalization=params.get("normalization", "minmax"),
        space=params.get("space", "svd"),
        schedule=schedule or None,
    )


__all__ = ["HybridRanker", "hybrid_from_params"]
