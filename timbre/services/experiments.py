"""Experiments and sweeps recorded in the run registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from timbre.evaluation import Experiment, SweepSpec, best_config, run_experiment, sweep
from timbre.interactions import InteractionData
from timbre.store import Store


def record_results(store: Store, dataset: str, experiment: Experiment) -> list[int]:
    """Attach each model's metrics to a model run in the registry (no artifact: an evaluation
    run is fitted on the split's train part, not on the whole data set). Returns the run ids."""
    split_info = {k: v for k, v in experiment.split.info.items() if k != "train_fingerprint"}
    ids = []
    for label, result in experiment.results.items():
        metrics = {**result.as_dict(), "k": experiment.k, "label": label, "split": split_info}
        result.run_id = store.add_model_run(
            model=result.model,
            params=result.params,
            dataset=dataset,
            fingerprint=experiment.split.info["train_fingerprint"],
            metrics=metrics,
            duration_s=round(result.fit_seconds, 4),
            artifact_path=None,
        )
        ids.append(result.run_id)
    return ids


@dataclass(frozen=True)
class SweepOutcome:
    """A finished sweep: every configuration's results, the best one, its registry run."""

    spec: SweepSpec
    results: pd.DataFrame
    best: dict[str, Any]
    run_id: int

    @property
    def swept(self) -> tuple[str, ...]:
        """The parameters the sweep varied."""
        return tuple(self.spec.grid)


def sweep_and_record(
    store: Store,
    data: InteractionData,
    spec: SweepSpec,
    on_result: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> SweepOutcome:
    """:func:`timbre.evaluation.sweep`, then evaluate the best configuration once more on the
    same split and record it (with its metrics) in the run registry."""
    results = sweep(data, spec, on_result)
    best = {**dict(spec.base_params), **best_config(results, list(spec.grid))}
    experiment = run_experiment(data, {spec.model: best}, spec.split, spec.k)
    run_id = record_results(store, data.dataset, experiment)[0]
    return SweepOutcome(spec, results, best, run_id)
