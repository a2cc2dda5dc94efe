"""The run registry: train and record runs, choose, load and delete them."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import scipy.sparse as sp

from timbre.config import Settings
from timbre.errors import TimbreError
from timbre.interactions import InteractionData
from timbre.models import Recommender, create_model
from timbre.models.base import ProgressCallback, read_sidecar, sidecar_path
from timbre.sources.demo import DEMO_DATASET
from timbre.store import Store

#: A registry row as ``Store.list_model_runs`` gives it.
Run = dict[str, Any]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced."""

    run_id: int
    model: Recommender
    fit_seconds: float
    artifact: Path


def train_run(
    store: Store,
    settings: Settings,
    data: InteractionData,
    model_name: str,
    params: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    activate: bool = True,
    metrics: dict[str, Any] | None = None,
) -> TrainResult:
    """Fit ``model_name`` on ``data``, save it under the artifacts folder and record the run
    (with ``metrics`` in its row when given).

    The artifact is written (atomically) before the registry row, which records its SHA-256
    (checked whenever the run is loaded); if recording fails the artifact is removed again, so
    the registry never points at a missing file.
    """
    model = create_model(model_name, params)
    started = time.perf_counter()
    model.fit(data, progress)
    fit_seconds = time.perf_counter() - started
    folder = settings.artifacts_dir.resolve()
    target = folder / f"{model.name}-{data.fingerprint}-{uuid.uuid4().hex[:8]}.npz"
    model.save(target)
    try:
        checksum = str(read_sidecar(target)["sha256"])
        run_id = store.add_model_run(
            model=model.name,
            params=model.get_params(),
            dataset=data.dataset,
            fingerprint=data.fingerprint,
            metrics=metrics,
            duration_s=round(fit_seconds, 4),
            artifact_path=str(target),
            checksum=checksum,
        )
        if activate:
            store.set_active_run(run_id)
    except BaseException:
        remove_artifact(target)
        raise
    log.info("trained %s on %s in %.2f s (run %d)", model.name, data.dataset, fit_seconds, run_id)
    return TrainResult(run_id, model, fit_seconds, target)


def get_run(store: Store, run_id: int) -> dict[str, Any]:
    """One registry row; ``TimbreError`` when there is no such run."""
    for run in store.list_model_runs():
        if run["id"] == run_id:
            return run
    raise TimbreError(f"no model run {run_id}; `timbre runs` lists them")


def choose_run(
    store: Store, dataset: str, run_id: int | None = None, model: str | None = None
) -> dict[str, Any]:
    """The run to use: ``run_id`` if given, else the newest run of ``model`` on ``dataset``,
    else the data set's active run, else its newest run."""
    if run_id is not None:
        return get_run(store, run_id)
    # evaluation runs (fitted on a split, no artifact) cannot serve recommendations
    runs = [r for r in store.list_model_runs() if r["dataset"] == dataset and r["artifact_path"]]
    if model is not None:
        runs = [r for r in runs if r["model"] == model]
    if not runs:
        what = f"{model} model" if model else "model"
        raise TimbreError(
            f"no trained {what} for data set {dataset!r}; train one first "
            f"(`timbre train --model {model or 'als'}` or the Train page)"
        )
    active = [r for r in runs if r["active"]]
    return active[0] if active and model is None else runs[0]


def runs_on(store: Store, data: InteractionData, model: str | None = None) -> list[Run]:
    """Runs with an artifact trained on exactly ``data`` (same data set and fingerprint),
    newest first, optionally of one ``model`` family."""
    return [
        run
        for run in store.list_model_runs()  # newest first
        if run["dataset"] == data.dataset
        and run["fingerprint"] == data.fingerprint
        and run["artifact_path"]
        and (model is None or run["model"] == model)
    ]


def usable_run(store: Store, data: InteractionData) -> Run | None:
    """The run that serves ``data``'s data set: its active run, else its newest run trained on
    exactly this data, else its newest; a stale run serves too (:func:`serve_run`). ``None``
    when the data set has no run with an artifact."""
    runs = [
        r for r in store.list_model_runs() if r["dataset"] == data.dataset and r["artifact_path"]
    ]
    active = [r for r in runs if r["active"]]
    exact = [r for r in runs if r["fingerprint"] == data.fingerprint]
    chosen = active or exact or runs
    return chosen[0] if chosen else None


def factor_run(store: Store, data: InteractionData, model: str) -> Run | None:
    """The newest run of ``model`` trained on exactly ``data``, or ``None`` (factor spaces)."""
    runs = runs_on(store, data, model)
    return runs[0] if runs else None


def load_run(run: dict[str, Any], data: InteractionData) -> Recommender:
    """Load a run's model, refusing it when it was trained on other data than ``data``
    (similar items, factor spaces: what needs the current data's own indices)."""
    model, trained = serve_run(run, data)
    if trained is not data:
        raise TimbreError(
            f"model run {run['id']} ({run['model']}) was trained on {run['dataset']!r} "
            f"with fingerprint {run['fingerprint']}, but the data is now {data.dataset!r} "
            f"{data.fingerprint}: the data changed since, retrain the model"
        )
    return model


def serve_run(run: dict[str, Any], data: InteractionData) -> tuple[Recommender, InteractionData]:
    """A run's model and the data it was trained on, for scoring: ``data`` itself when it is
    unchanged, else the run's own vocabularies and matrix (from its artifact) with ``data``'s
    current metadata. New interactions never stop a run from scoring; :func:`staleness` says
    how far behind it is.

    Raises ``TimbreError`` for a run without an artifact, of another data set, or saved before
    artifacts kept their vocabularies (and trained on other data).
    """
    if not run.get("artifact_path"):
        raise TimbreError(f"model run {run['id']} has no saved artifact; retrain it")
    if run["dataset"] != data.dataset:
        raise TimbreError(
            f"model run {run['id']} ({run['model']}) was trained on {run['dataset']!r}, "
            f"not {data.dataset!r}"
        )
    model = Recommender.load(run["artifact_path"], checksum=run.get("checksum"))
    if model.fingerprint_ == data.fingerprint:
        return model, data
    if model.user_ids_ is None or model.item_ids_ is None:
        raise TimbreError(
            f"model run {run['id']} ({run['model']}) was trained on other data than "
            f"{data.dataset!r} holds now and its artifact predates saved vocabularies: "
            "retrain the model"
        )
    return model, data.as_trained(model.user_ids_, model.item_ids_, model.user_items_)


@dataclass(frozen=True)
class Staleness:
    """How the current data differs from what a run was trained on."""

    new_pairs: int
    changed_pairs: int
    removed_pairs: int
    new_users: int
    new_items: int

    @property
    def arrived(self) -> int:
        """User-item pairs that are new or whose weight changed since training."""
        return self.new_pairs + self.changed_pairs

    @property
    def stale(self) -> bool:
        return bool(self.arrived or self.removed_pairs)

    def text(self) -> str:
        """One line for the UI and the CLI."""
        if not self.stale:
            return "trained on the current data"
        return (
            f"stale: {self.arrived:,} user-item pairs arrived or changed since training "
            f"({self.new_users:,} new users, {self.new_items:,} new items"
            + (f", {self.removed_pairs:,} pairs removed" if self.removed_pairs else "")
            + "); retrain to include them"
        )


def staleness(trained: InteractionData, current: InteractionData) -> Staleness:
    """Compare the data a run was trained on with the data set now (by ids)."""
    if trained is current or trained.fingerprint == current.fingerprint:
        return Staleness(0, 0, 0, 0, 0)
    rows = trained.users.indices(current.users.ids)
    cols = trained.items.indices(current.items.ids)
    pairs = current.user_items.tocoo()
    r, c = rows[pairs.row], cols[pairs.col]
    inside = (r >= 0) & (c >= 0)
    moved = sp.csr_matrix(
        (pairs.data[inside], (r[inside], c[inside])), shape=trained.user_items.shape
    )
    before = trained.user_items
    both = moved.multiply(before > 0)
    new_inside = int(moved.nnz - both.nnz)
    changed = int((abs(both - before.multiply(moved > 0)) > 1e-6).nnz)
    return Staleness(
        new_pairs=int((~inside).sum()) + new_inside,
        changed_pairs=changed,
        removed_pairs=int(before.nnz - before.multiply(moved > 0).nnz),
        new_users=int((rows < 0).sum()),
        new_items=int((cols < 0).sum()),
    )


def delete_run(store: Store, run_id: int) -> None:
    """Delete a run from the registry and its artifact files from disk."""
    get_run(store, run_id)
    path = store.delete_model_run(run_id)
    if path:
        remove_artifact(Path(path))


def remove_artifact(path: Path) -> None:
    """Remove an artifact and its sidecar (missing files are fine)."""
    Path(path).unlink(missing_ok=True)
    sidecar_path(path).unlink(missing_ok=True)


def default_dataset(store: Store) -> str:
    """The data set to use when none is named: the demo's if loaded, else the only one."""
    names = [d["name"] for d in store.list_datasets()]
    if DEMO_DATASET in names:
        return DEMO_DATASET
    if len(names) == 1:
        return str(names[0])
    if not names:
        raise TimbreError("the store holds no data yet; run `timbre demo` or `timbre import`")
    raise TimbreError(f"several data sets ({', '.join(names)}); choose one with --dataset")


#: The metrics a runs table shows, in order (an evaluation record's; a training run has none).
RUN_METRICS = ("ndcg", "precision", "recall", "map", "hit_rate", "coverage", "diversity",
               "novelty", "arp")  # fmt: skip


def run_kind(run: Run) -> str:
    """``"model"`` (a trained artifact that can serve) or ``"evaluation N"`` (the metrics of
    one model of experiment ``N``, fitted on a split's train part; nothing to serve)."""
    if run["artifact_path"]:
        return "model"
    experiment = (run["metrics"].get("experiment") or {}).get("id") or run["id"]
    return f"evaluation {experiment}" if "label" in run["metrics"] else "record"


def _metric_columns(run: Run) -> dict[str, Any]:
    """A run's metric values by label (``ndcg@10``; diversity named by its space)."""
    from timbre.evaluation import metric_label

    metrics = run["metrics"]
    k = metrics.get("k")
    space = (metrics.get("experiment") or {}).get("ild_space") or "binary"
    out: dict[str, Any] = {}
    for name in RUN_METRICS:
        label = metric_label(name, space) if name == "diversity" else name
        if k and name in ("ndcg", "precision", "recall", "map", "hit_rate"):
            label = f"{name}@{k}"
        out[label] = metrics.get(name)
    return out


def runs_table(runs: list[Run], fingerprint: str | None = None) -> pd.DataFrame:
    """The run registry as a table: kind (model or evaluation record), model, parameters,
    timing, whether it was made on the current data, and each evaluation's metrics."""
    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "run": run["id"],
            "kind": run_kind(run),
            "active": bool(run["active"]),
            "model": run["metrics"].get("label") or run["model"],
            "seconds": run["duration_s"],
            "parameters": ", ".join(f"{k}={v}" for k, v in sorted(run["params"].items())),
        }
        if fingerprint is not None:
            row["current data"] = run["fingerprint"] == fingerprint
        row["created"] = run["created_at"]
        rows.append({**row, **_metric_columns(run)})
    frame = pd.DataFrame(rows)
    return frame.dropna(axis=1, how="all") if len(frame) else frame


def compare_runs(runs: list[Run]) -> pd.DataFrame:
    """Runs side by side: one column per run, one row per parameter and metric (a value a run
    does not have is empty)."""
    columns: dict[str, dict[str, Any]] = {}
    for run in runs:
        values: dict[str, Any] = {
            "kind": run_kind(run),
            "model": run["metrics"].get("label") or run["model"],
            "data set": run["dataset"],
            "fingerprint": str(run["fingerprint"])[:8],
            "seconds": run["duration_s"],
        }
        values.update({f"param {k}": v for k, v in sorted(run["params"].items())})
        split = run["metrics"].get("split") or {}
        values.update(
            {f"split {k}": v for k, v in sorted(split.items()) if not isinstance(v, dict)}
        )
        values.update({k: v for k, v in _metric_columns(run).items() if v is not None})
        columns[f"run {run['id']}"] = values
    frame = pd.DataFrame(columns)
    return frame.astype(object).where(frame.notna(), "")
