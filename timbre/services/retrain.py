"""Scheduled retraining: retrain a data set's run when enough new interactions arrived, and
activate the new run only when its validation NDCG is not worse (``timbre train --if-stale``).

The gate. Both numbers come from the same protocol, :data:`RETRAIN_SPLIT` (a per-user random
hold-out of 20% with seed 0) and NDCG@:data:`RETRAIN_K`: the family and parameters are fitted
on the split's train part and measured on its held-out part, as a sweep measures one
configuration. The new configuration is measured on a split of the current data; the old run's
number is the one recorded with it by an earlier retrain (same split spec and K), else it is
measured now on a split of the data that run was trained on (``serve_run``).
The two numbers therefore come from different data (the data changed, that is why we retrain):
the gate catches a retrain that measures worse than its predecessor did (a bad import, worse
parameters), it is not a paired comparison on one test set.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any, Literal

from timbre.config import Settings
from timbre.errors import ParameterError
from timbre.evaluation import ModelRanker, SplitSpec, evaluate_ranker
from timbre.interactions import InteractionData
from timbre.models import create_model
from timbre.models.base import ProgressCallback
from timbre.services.runs import (
    Run,
    Staleness,
    TrainResult,
    runs_on,
    serve_run,
    staleness,
    train_run,
    usable_run,
)
from timbre.store import Store

log = logging.getLogger(__name__)

#: The validation split of a retrain (one fixed spec, recorded with every retrained run).
RETRAIN_SPLIT = SplitSpec(protocol="user-holdout", test_fraction=0.2, seed=0)
#: The list length of the validation NDCG.
RETRAIN_K = 10
#: Retrain on any change (pairs new, changed or removed since training).
DEFAULT_MIN_NEW = 1
#: The family trained when a data set has no run yet.
DEFAULT_MODEL = "als"
#: A new run is activated when its NDCG >= the old one's minus this (default: rounding only).
TOLERANCE = 1e-9

Action = Literal["not-stale", "too-few", "already-tried", "first", "activated", "kept"]


@dataclass(frozen=True)
class RetrainOutcome:
    """What ``retrain_if_stale`` did, with the one line that says so.

    ``action``: ``not-stale`` / ``too-few`` / ``already-tried`` (nothing trained), ``first``
    (no run before: trained and activated), ``activated`` or ``kept`` (trained; the new run was
    activated, or the old one stays active).
    """

    action: Action
    message: str
    dataset: str
    old_run: int | None = None
    new_run: int | None = None
    behind: int | None = None
    staleness: Staleness | None = None
    new_ndcg: float | None = None
    old_ndcg: float | None = None
    old_ndcg_source: str | None = None
    fit_seconds: float | None = None

    @property
    def retrained(self) -> bool:
        return self.new_run is not None

    @property
    def activated(self) -> bool:
        return self.action in ("first", "activated")

    def as_dict(self) -> dict[str, Any]:
        """The JSON of ``timbre train --if-stale --json``."""
        payload = asdict(self)
        payload.update(retrained=self.retrained, activated=self.activated, k=RETRAIN_K)
        if self.staleness is not None:
            payload["staleness"] = {**asdict(self.staleness), "arrived": self.staleness.arrived}
        return payload


def validation_ndcg(
    data: InteractionData,
    family: str,
    params: dict[str, Any],
    split: SplitSpec = RETRAIN_SPLIT,
    k: int = RETRAIN_K,
) -> dict[str, Any]:
    """NDCG@``k`` of ``family`` with ``params`` fitted on ``split``'s train part of ``data`` and
    measured on its held-out part; recorded as a run's ``validation`` metrics."""
    made = split.make(data)
    result = evaluate_ranker(ModelRanker(create_model(family, params)), made, k, family)
    return {
        "ndcg": result.summary["ndcg"],
        "k": k,
        "split": asdict(split),
        "users": len(result.users),
        "fingerprint": data.fingerprint,
    }


def recorded_validation(run: Run) -> dict[str, Any] | None:
    """The ``validation`` a retrain recorded with ``run`` (same split spec and K), or ``None``."""
    recorded = (run.get("metrics") or {}).get("validation")
    if not isinstance(recorded, dict) or not isinstance(recorded.get("ndcg"), int | float):
        return None
    same = recorded.get("split") == asdict(RETRAIN_SPLIT) and recorded.get("k") == RETRAIN_K
    measured_on = recorded.get("fingerprint", run["fingerprint"])
    return recorded if same and measured_on == run["fingerprint"] else None


def baseline_run(store: Store, data: InteractionData) -> Run | None:
    """The run a retrain compares with and may replace: the data set's active run (with an
    artifact), else :func:`~timbre.services.runs.usable_run`'s choice. The active run comes
    first so that a run trained on the current data but not activated (it measured worse)
    does not become the baseline."""
    for run in store.list_model_runs():
        if run["dataset"] == data.dataset and run["artifact_path"] and run["active"]:
            return run
    return usable_run(store, data)


def retrain_params(
    run: Run | None, model: str | None, params: dict[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """The family and parameters of a retrain: ``model`` (default: the run's family, else
    :data:`DEFAULT_MODEL`); the run's parameters when the family is the run's, with
    ``params`` over them; otherwise ``params`` alone (defaults for the rest)."""
    family = model or (run["model"] if run else DEFAULT_MODEL)
    base = dict(run["params"]) if run and run["model"] == family else {}
    return family, create_model(family, {**base, **(params or {})}).get_params()


def _already_tried(
    store: Store, data: InteractionData, old: Run, family: str, params: Any
) -> Run | None:
    """A run of this configuration already trained on exactly ``data`` to replace ``old`` and
    not activated (retraining again would only repeat it)."""
    for run in runs_on(store, data, family):
        metrics = run.get("metrics") or {}
        same = json.dumps(run["params"], sort_keys=True) == json.dumps(params, sort_keys=True)
        if metrics.get("replaced_run") == old["id"] and not run["active"] and same:
            return run
    return None


def retrain_if_stale(
    store: Store,
    settings: Settings,
    data: InteractionData,
    min_new: int = DEFAULT_MIN_NEW,
    model: str | None = None,
    params: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    tolerance: float = TOLERANCE,
) -> RetrainOutcome:
    """Retrain ``data``'s run when at least ``min_new`` user-item pairs are new, changed or
    removed since it was trained; activate the new run only if its validation NDCG is not
    worse than the old run's (see the module's docstring). The new run records both numbers
    (``validation``, ``replaced_validation``), ``replaced_run`` and ``activated``; a run that
    is not activated stays in the registry. Without any run yet: train and activate.

    ``tolerance``: the new run is activated when its NDCG >= the old one's minus this. The
    default only absorbs rounding; on the demo, refitting ALS with another seed moves NDCG@10
    by about 0.0025 (standard deviation), so a retrain on barely changed data measures worse
    about half the time (README, "Scheduled retraining").
    """
    if min_new < 1:
        raise ParameterError(f"--min-new must be at least 1, got {min_new}")
    if not tolerance >= 0:
        raise ParameterError(f"--tolerance must be 0 or more, got {tolerance}")
    old = baseline_run(store, data)
    family, chosen = retrain_params(old, model, params)
    name = data.dataset
    if old is None:
        validation = validation_ndcg(data, family, chosen)
        metrics = {"validation": validation, "replaced_run": None, "activated": True}
        result = _train_recorded(store, settings, data, family, chosen, metrics, progress)
        return RetrainOutcome(
            "first",
            f"no trained model on {name} yet: run {result.run_id} ({family}) trained and activated "
            f"(validation NDCG@{RETRAIN_K} {validation['ndcg']:.4f})",
            name, None, result.run_id, new_ndcg=validation["ndcg"],
            fit_seconds=result.fit_seconds,
        )  # fmt: skip
    _, trained = serve_run(old, data)
    stale = staleness(trained, data)
    behind = stale.arrived + stale.removed_pairs
    was = f"run {old['id']} ({old['model']})"
    common: dict[str, Any] = {
        "dataset": name,
        "old_run": old["id"],
        "behind": behind,
        "staleness": stale,
    }
    if not stale.stale:
        return RetrainOutcome(
            "not-stale", f"{was} is trained on the current data: not retrained", **common
        )
    if behind < min_new:
        return RetrainOutcome(
            "too-few",
            f"{was} is {behind:,} user-item pairs behind (< {min_new:,}): not retrained",
            **common,
        )
    tried = _already_tried(store, data, old, family, chosen)
    if tried is not None:
        return RetrainOutcome(
            "already-tried",
            f"{was} is {behind:,} user-item pairs behind, but run {tried['id']} was trained on "
            "the current data with these parameters and not activated: not retrained",
            **common,
        )
    return _replace(store, settings, data, old, trained, family, chosen, stale, progress, tolerance)


def _replace(
    store: Store,
    settings: Settings,
    data: InteractionData,
    old: Run,
    trained: InteractionData,
    family: str,
    params: dict[str, Any],
    stale: Staleness,
    progress: ProgressCallback | None,
    tolerance: float,
) -> RetrainOutcome:
    """Measure both configurations, train the new run, activate it if it is not worse."""
    new_validation = validation_ndcg(data, family, params)
    old_validation = recorded_validation(old)
    source = "recorded"
    if old_validation is None:
        old_validation = validation_ndcg(trained, old["model"], dict(old["params"]))
        source = "measured"
    new, before = float(new_validation["ndcg"]), float(old_validation["ndcg"])
    better = new >= before - tolerance
    metrics = {
        "validation": new_validation,
        "replaced_run": old["id"],
        "replaced_validation": {**old_validation, "source": source},
        "activated": better,
        "tolerance": tolerance,
        "staleness": {**asdict(stale), "arrived": stale.arrived},
    }
    result = _train_recorded(store, settings, data, family, params, metrics, progress, better)
    if not better and not old["active"]:
        store.set_active_run(old["id"])  # the old run keeps serving, not the newer one
    behind = stale.arrived + stale.removed_pairs
    was = f"run {old['id']} ({old['model']}) was {behind:,} user-item pairs behind"
    message = f"{was}: run {result.run_id} ({family}) " + _verdict(
        new, before, tolerance, old["id"], bool(old["active"])
    )
    log.info(message)
    return RetrainOutcome(
        "activated" if better else "kept", message, data.dataset, old["id"], result.run_id,
        behind, stale, new, before, source, result.fit_seconds,
    )  # fmt: skip


def _verdict(new: float, before: float, tolerance: float, old_id: int, was_active: bool) -> str:
    """The second half of a retrain's line: activated or not, and the two numbers."""
    k = RETRAIN_K
    allowed = f"{before:.4f} - {tolerance:g}" if tolerance > TOLERANCE else f"{before:.4f}"
    if new >= before - tolerance:
        return f"trained and activated (validation NDCG@{k} {new:.4f} >= {allowed} of run {old_id})"
    stays = "stays active" if was_active else "is made the active run"
    return (
        f"trained but not activated: validation NDCG@{k} {new:.4f} < {allowed} of run "
        f"{old_id}, which {stays}"
    )


def _train_recorded(
    store: Store,
    settings: Settings,
    data: InteractionData,
    family: str,
    params: dict[str, Any],
    metrics: dict[str, Any],
    progress: ProgressCallback | None = None,
    activate: bool = True,
) -> TrainResult:
    """:func:`~timbre.services.runs.train_run` with ``metrics`` recorded in the run's row."""
    return train_run(store, settings, data, family, params, progress, activate, metrics)
