"""Experiments and sweeps: rankers from specs (models and hybrids), recorded in the registry
with what it takes to reproduce them, and re-run to check that they do."""

from __future__ import annotations

import math
import platform
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import timbre
from timbre.config import REPO_ROOT
from timbre.errors import DataError, ParameterError, TimbreError
from timbre.evaluation import (
    ILD_SPACE,
    Experiment,
    Ranker,
    RankerFactory,
    SplitSpec,
    SweepResult,
    SweepSpec,
    as_rankers,
    model_factory,
    parse_model_specs,
    run_experiment,
    sweep,
)
from timbre.hybrid import KNOBS, HybridRanker, Weights, hybrid_from_params, preset
from timbre.interactions import InteractionData
from timbre.models import parse_params
from timbre.spaces import SpaceName
from timbre.store import Store

#: The label prefix of a hybrid in ``--models`` (``hybrid``, ``hybrid:original``,
#: ``hybrid:cf=0.8+content=0.2``).
HYBRID = "hybrid"
#: Options of a hybrid besides its weights (``--param hybrid.cf_model=ease``).
HYBRID_OPTIONS = ("cf_model", "normalization", "space")
#: Libraries whose versions an experiment's record names.
LIBRARIES = ("numpy", "scipy", "pandas", "scikit-learn", "implicit")


# ----- rankers from specs ---------------------------------------------------------------------
def hybrid_weights(label: str) -> Weights:
    """The weights a hybrid label names: a preset (``hybrid:original``; ``hybrid`` alone is
    ``default``) or ``+``-joined weights (``hybrid:cf=0.8+content=0.2``, the rest 0)."""
    _, _, tail = label.partition(":")
    if not tail:
        return preset("default")
    if "=" in tail:
        return Weights.parse(tail.replace("+", ","))
    return preset(tail)


def _split_params(assignments: Sequence[str]) -> tuple[list[str], list[str]]:
    hybrid = [a for a in assignments if a.startswith(f"{HYBRID}.")]
    return [a for a in assignments if a not in hybrid], hybrid


def _hybrid_options(assignments: Sequence[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for assignment in assignments:
        key, sep, value = assignment.removeprefix(f"{HYBRID}.").partition("=")
        if not sep or key not in HYBRID_OPTIONS:
            raise ParameterError(
                f"hybrid parameters are hybrid.{{{','.join(HYBRID_OPTIONS)}}}=value; "
                f"got {assignment!r}"
            )
        options[key] = value.strip()
    return options


def rankers(names: Sequence[str], assignments: Sequence[str] = ()) -> dict[str, Ranker]:
    """The rankers ``timbre evaluate --models`` names: model families (``als``, ``als:b``) and
    hybrids (``hybrid:<preset>`` or ``hybrid:cf=0.8+content=0.2``).

    ``assignments`` are ``model.key=value`` for the models and ``hybrid.cf_model=...``,
    ``hybrid.normalization=...``, ``hybrid.space=...`` for the hybrids; a hybrid's CF component
    takes the parameters given for its family (``--param als.factors=128``).
    """
    model_names = [n for n in names if n.split(":", 1)[0] != HYBRID]
    model_params, hybrid_params = _split_params(assignments)
    families = {n.split(":", 1)[0] for n in model_names}
    cf_family = _hybrid_options(hybrid_params).get("cf_model", "als")
    extra = [] if cf_family in families else [cf_family]
    specs = parse_model_specs([*model_names, *extra], model_params)
    out: dict[str, Ranker] = as_rankers({n: specs[n] for n in model_names})
    options = _hybrid_options(hybrid_params)
    for name in (n for n in names if n.split(":", 1)[0] == HYBRID):
        out[name] = HybridRanker(
            weights=hybrid_weights(name),
            cf_model=cf_family,
            cf_params=specs.get(cf_family, {}),
            normalization=options.get("normalization", "minmax"),  # type: ignore[arg-type]
            space=options.get("space", "svd"),  # type: ignore[arg-type]
        )
    return out


def hybrid_factory(base: Mapping[str, Any]) -> RankerFactory:
    """A factory for hybrid sweeps: a configuration's weight names (cf, content, ...) override
    ``base``'s weights (default preset); ``cf_model``, ``normalization``, ``space`` and
    ``cf.<param>`` pass to the ranker."""

    def make(params: dict[str, Any]) -> Ranker:
        merged = {**dict(base), **params}
        weights = preset("default").as_dict()
        weights.update({k: float(v) for k, v in merged.items() if k in KNOBS})
        cf_model = str(merged.get("cf_model", "als"))
        cf = {k.removeprefix("cf."): v for k, v in merged.items() if k.startswith("cf.")}
        return HybridRanker(
            Weights(**weights),
            cf_model,
            parse_params(cf_model, [f"{k}={v}" for k, v in cf.items()]),
            merged.get("normalization", "minmax"),
            merged.get("space", "svd"),
        )

    return make


def parse_hybrid_grid(assignments: Sequence[str]) -> dict[str, list[Any]]:
    """``--grid content=0,0.1`` for ``sweep --model hybrid``: weights as numbers, the other
    options as text."""
    grid: dict[str, list[Any]] = {}
    for assignment in assignments:
        key, sep, values = assignment.partition("=")
        key = key.strip()
        allowed = (*KNOBS, *HYBRID_OPTIONS)
        if not sep or not values.strip() or (key not in allowed and not key.startswith("cf.")):
            raise ParameterError(
                f"hybrid grid entries are one of {', '.join(allowed)} or cf.<param> "
                f"= v1,v2,...; got {assignment!r}"
            )
        parts = [v.strip() for v in values.split(",") if v.strip()]
        grid[key] = [float(v) for v in parts] if key in KNOBS else parts
    if not grid:
        raise ParameterError("a sweep needs at least one --grid key=v1,v2")
    return grid


def factory_for(spec: SweepSpec) -> RankerFactory:
    """The ranker factory of a sweep: a model family's, or the hybrid's."""
    if spec.model == HYBRID:
        return hybrid_factory(spec.base_params)
    return model_factory(spec.model)


# ----- records --------------------------------------------------------------------------------
def environment() -> dict[str, Any]:
    """The software an experiment ran with: Timbre, Python, libraries, the git commit."""
    versions: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=False,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "timbre": timbre.__version__,
        "python": platform.python_version(),
        "libraries": versions,
        "git_commit": commit or "unknown",
    }


def experiment_record(data: InteractionData, experiment: Experiment) -> dict[str, Any]:
    """Everything needed to run ``experiment`` again: data set and fingerprint, the split spec,
    K, the ILD space, every ranker with its parameters, and the software."""
    spec = experiment.spec
    return {
        "dataset": data.dataset,
        "fingerprint": data.fingerprint,
        "split": asdict(spec) if spec is not None else None,
        "k": experiment.k,
        "ild_space": experiment.ild_space,
        "rankers": {
            label: {"family": result.model, "params": result.params}
            for label, result in experiment.results.items()
        },
        "environment": environment(),
    }


def record_results(store: Store, dataset: str, experiment: Experiment) -> list[int]:
    """Attach each model's metrics to a model run in the registry (no artifact: an evaluation
    run is fitted on the split's train part, not on the whole data set). Returns the run ids;
    the first is the experiment's id (``timbre evaluate --rerun ID``)."""
    split_info = _without_fingerprint(experiment.split.info)
    record = experiment.record
    ids: list[int] = []
    for label, result in experiment.results.items():
        metrics = {**result.as_dict(), "k": experiment.k, "label": label, "split": split_info}
        if record is not None:
            metrics["experiment"] = {**record, "id": ids[0] if ids else None}
        result.run_id = store.add_model_run(
            model=result.model,
            params=_jsonable(result.params),
            dataset=dataset,
            fingerprint=experiment.split.info["train_fingerprint"],
            metrics=_jsonable(metrics),
            duration_s=round(result.fit_seconds, 4),
            artifact_path=None,
        )
        ids.append(result.run_id)
    return ids


def evaluate(
    store: Store,
    data: InteractionData,
    names: Sequence[str],
    assignments: Sequence[str],
    split: SplitSpec,
    k: int = 10,
    ild_space: SpaceName = ILD_SPACE,
    progress: Callable[[float, str], None] | None = None,
    record: bool = True,
) -> tuple[Experiment, list[int]]:
    """Run an experiment from ``--models`` / ``--param`` and record it (with its record)."""
    chosen = rankers(names, assignments)
    return evaluate_rankers(store, data, chosen, split, k, ild_space, progress, record)


def evaluate_rankers(
    store: Store,
    data: InteractionData,
    chosen: Mapping[str, Ranker],
    split: SplitSpec,
    k: int = 10,
    ild_space: SpaceName = ILD_SPACE,
    progress: Callable[[float, str], None] | None = None,
    record: bool = True,
) -> tuple[Experiment, list[int]]:
    """Run an experiment of ready rankers, attach its reproducibility record and (``record``)
    store it; the ids of its runs (the first is the experiment's id)."""
    experiment = run_experiment(data, chosen, split, k, ild_space, progress)
    experiment.record = experiment_record(data, experiment)
    ids = record_results(store, data.dataset, experiment) if record else []
    return experiment, ids


def _without_fingerprint(info: Mapping[str, Any]) -> dict[str, Any]:
    """A split's counts as recorded with a run (the train fingerprint is the run's own column)."""
    return {k: v for k, v in info.items() if k != "train_fingerprint"}


def _jsonable(value: Any) -> Any:
    """Plain JSON values (NaN as None; numpy scalars as Python)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ----- re-running -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Rerun:
    """An experiment run again from its record, and whether every metric matched."""

    experiment_id: int
    before: dict[str, dict[str, Any]]
    after: dict[str, dict[str, Any]]
    mismatches: list[str]

    @property
    def matches(self) -> bool:
        """Every model's every metric equal (timings aside)."""
        return not self.mismatches


def find_record(store: Store, experiment_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The record and runs of experiment ``experiment_id`` (its first run's id)."""
    runs = [
        r
        for r in store.list_model_runs()
        if r["id"] == experiment_id
        or (r["metrics"].get("experiment") or {}).get("id") == experiment_id
    ]
    first = next((r for r in runs if r["id"] == experiment_id), None)
    if first is None or "experiment" not in first["metrics"]:
        raise TimbreError(
            f"no experiment {experiment_id}: `timbre runs` lists evaluation runs; an experiment's "
            "id is its first run's id"
        )
    return first["metrics"]["experiment"], sorted(runs, key=lambda r: int(r["id"]))


def rerun(store: Store, data: InteractionData, experiment_id: int) -> Rerun:
    """Run a recorded experiment again on ``data`` and compare every metric with the record.

    Raises
    ------
    DataError
        When the data changed since (another fingerprint): the numbers could not match.
    """
    record, runs = find_record(store, experiment_id)
    if record["fingerprint"] != data.fingerprint:
        raise DataError(
            f"experiment {experiment_id} ran on {record['dataset']!r} with fingerprint "
            f"{record['fingerprint']}; the data is now {data.fingerprint}: it cannot match"
        )
    spec = SplitSpec(**record["split"])
    again = run_experiment(data, _recorded_rankers(record), spec, record["k"], record["ild_space"])
    before = {r["metrics"]["label"]: r["metrics"] for r in runs}
    after = {label: result.as_dict() for label, result in again.results.items()}
    mismatches = [
        f"{label}.{metric}: {before[label][metric]} then, {value} now"
        for label, metrics in after.items()
        for metric, value in metrics.items()
        if not metric.endswith("_seconds") and not _same(before[label].get(metric), value)
    ]
    return Rerun(experiment_id, before, after, mismatches)


def _recorded_rankers(record: Mapping[str, Any]) -> dict[str, Ranker]:
    out: dict[str, Ranker] = {}
    for label, entry in record["rankers"].items():
        if entry["family"] == HYBRID:
            out[label] = hybrid_from_params(entry["params"])
        else:
            out.update(as_rankers({label: entry["params"]}))
    return out


def _same(recorded: Any, value: Any) -> bool:
    if recorded is None and isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(recorded, int | float) and isinstance(value, int | float):
        return math.isclose(float(recorded), float(value), rel_tol=1e-12, abs_tol=1e-12)
    return bool(recorded == value)


# ----- sweeps ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepOutcome:
    """A finished sweep (nested validation) and the registry run of its chosen configuration."""

    result: SweepResult
    run_id: int

    @property
    def spec(self) -> SweepSpec:
        """What was swept."""
        return self.result.spec

    @property
    def swept(self) -> tuple[str, ...]:
        """The parameters the sweep varied."""
        return tuple(self.result.spec.grid)

    @property
    def best(self) -> dict[str, Any]:
        """The chosen configuration."""
        return self.result.best


def sweep_and_record(
    store: Store,
    data: InteractionData,
    spec: SweepSpec,
    on_result: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> SweepOutcome:
    """:func:`timbre.evaluation.sweep` (chosen on validation, measured once on test), then
    record the chosen configuration with both its validation and its test metrics."""
    result = sweep(data, spec, on_result, factory_for(spec))
    test = result.test
    metrics = {
        **test.as_dict(),
        "k": spec.k,
        "label": f"{spec.model} (swept)",
        "chosen_on": result.chosen_on,
        "split": _without_fingerprint(result.splits.get("test", {})),
        "validation": result.best_validation,
        "test": test.as_dict(),
        "sweep": {
            "grid": {k: list(v) for k, v in spec.grid.items()},
            "split": asdict(spec.split),
            "splits": result.splits,
        },
    }
    run_id = store.add_model_run(
        model=spec.model,
        params=_jsonable(test.params),
        dataset=data.dataset,
        fingerprint=data.fingerprint,
        metrics=_jsonable(metrics),
        duration_s=round(test.fit_seconds, 4),
        artifact_path=None,
    )
    return SweepOutcome(result, run_id)
