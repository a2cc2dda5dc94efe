"""Live offline metrics of the hybrid ranking, ranked through the engine's one path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from timbre import spaces
from timbre.evaluation import ILD_SPACE, Split, list_metrics, ranking_metrics
from timbre.evaluation.metrics import ild_per_list, interval95, novelty_per_list
from timbre.hybrid.engine import HybridEngine
from timbre.hybrid.types import Prepared, Ranking
from timbre.hybrid.weights import DEFAULT_SCHEDULE, ScheduleRule, Weights
from timbre.spaces import SpaceName


def ranking_lists(rankings: Sequence[Ranking], k: int) -> NDArray[np.int64]:
    """Rankings as a ``len(rankings) x k`` array of item indices padded with -1."""
    lists = np.full((len(rankings), k), -1, dtype=np.int64)
    for row, ranking in enumerate(rankings):
        count = min(k, len(ranking.items))
        lists[row, :count] = ranking.items[:count]
    return lists


class MetricsPanel:
    """Offline metrics of the hybrid ranking on a fixed sample of held-out users, fast enough to
    follow a slider: components are scored and normalised once; a weight change only re-ranks
    (through :meth:`HybridEngine.rank_prepared`, the path every list takes) and measures.

    Parameters
    ----------
    engine
        An engine whose CF model was trained on ``split.train`` (so the test items are unseen).
    split
        A :class:`timbre.evaluation.Split` of the same data.
    sample
        How many test users (seeded sample); ``None`` for all of them.
    ild_space
        Where intra-list diversity is measured (see :mod:`timbre.spaces`).
    """

    def __init__(
        self,
        engine: HybridEngine,
        split: Split,
        sample: int | None = 300,
        seed: int = 0,
        k: int = 10,
        ild_space: SpaceName = ILD_SPACE,
    ) -> None:
        rng = np.random.default_rng(seed)
        users = split.test_users
        if sample is not None and sample < len(users):
            users = np.sort(rng.choice(users, size=sample, replace=False))
        self.users = users
        self.engine = engine
        self.split = split
        self.k = k
        self.space = spaces.space(split.train, "items", ild_space)
        self.prepared: Prepared = engine.prepare(engine.components_batch(users))

    def lists(
        self, weights: Weights, schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE
    ) -> NDArray[np.int64]:
        """Each sampled user's top-k for ``weights``: exactly the engine's ranking."""
        rankings = self.engine.rank_prepared(self.prepared, weights, self.k, schedule, reasons=0)
        return ranking_lists(rankings, self.k)

    def measure(
        self, weights: Weights, schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE
    ) -> dict[str, float]:
        """NDCG@k and recall@k (means over the users), intra-list diversity, novelty and
        coverage of the lists ``weights`` give, with the half-width of each mean's 95% interval
        (``<metric>_ci95``: 1.96 sd / sqrt(n) over the sampled users' values)."""
        lists = self.lists(weights, schedule)
        per_user = ranking_metrics(lists, self.split.test, self.users, self.k)
        train = self.split.train
        users = int((train.items_per_user > 0).sum())
        return {
            "ndcg": float(per_user["ndcg"].mean()),
            "recall": float(per_user["recall"].mean()),
            **list_metrics(lists, train, self.space),
            "ndcg_ci95": interval95(per_user["ndcg"].to_numpy()),
            "recall_ci95": interval95(per_user["recall"].to_numpy()),
            "diversity_ci95": interval95(ild_per_list(lists, self.space)),
            "novelty_ci95": interval95(novelty_per_list(lists, train.listeners, users)),
        }

    def tradeoff(
        self,
        weights: Weights,
        values: Sequence[float] = (0.0, 0.1, 0.2, 0.4, 0.7, 1.0),
        schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE,
    ) -> pd.DataFrame:
        """Metrics as the diversity weight, then the novelty weight, sweep ``values`` (the other
        weights as given): the accuracy-diversity and accuracy-novelty trade-off curves."""
        rows = []
        for knob in ("diversity", "novelty"):
            for value in values:
                varied = replace(weights, **{knob: float(value)})
                rows.append({"knob": knob, "value": float(value), **self.measure(varied, schedule)})
        return pd.DataFrame(rows)
