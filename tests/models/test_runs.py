"""Training runs: artifact + registry row together, refusal on changed data, clean deletion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from timbre.config import Settings
from timbre.errors import StorageError, TimbreError
from timbre.interactions import InteractionData
from timbre.models.base import sidecar_path
from timbre.services.runs import choose_run, delete_run, load_run, train_run
from timbre.store import Store

from .conftest import checkerboard


def test_train_run_saves_the_artifact_and_records_the_run(
    store: Store, board: InteractionData, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path)
    seen: list[float] = []
    result = train_run(
        store,
        settings,
        board,
        "als",
        {"factors": 8, "iterations": 4},
        progress=lambda f, _m: seen.append(f),
    )
    assert result.artifact.exists() and sidecar_path(result.artifact).exists()
    assert result.artifact.parent == settings.artifacts_dir.resolve()
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 4
    run = choose_run(store, "checkerboard")
    assert run["id"] == result.run_id and run["active"]
    assert run["params"]["factors"] == 8 and run["fingerprint"] == board.fingerprint
    assert run["duration_s"] == pytest.approx(result.fit_seconds, abs=1e-3)
    loaded = load_run(run, board)
    assert np.array_equal(loaded.recommend(3, 5).items, result.model.recommend(3, 5).items)


def test_newest_run_becomes_active_and_model_choice_picks_its_family(
    store: Store, board: InteractionData, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path)
    first = train_run(store, settings, board, "popularity")
    second = train_run(store, settings, board, "item-knn", {"K": 5})
    assert choose_run(store, "checkerboard")["id"] == second.run_id
    assert choose_run(store, "checkerboard", model="popularity")["id"] == first.run_id
    store.set_active_run(first.run_id)
    assert choose_run(store, "checkerboard")["id"] == first.run_id
    with pytest.raises(TimbreError, match="no trained bpr model"):
        choose_run(store, "checkerboard", model="bpr")


def test_a_run_is_refused_on_changed_data(
    store: Store, board: InteractionData, tmp_path: Path
) -> None:
    result = train_run(store, Settings(home=tmp_path), board, "popularity")
    run = choose_run(store, "checkerboard", result.run_id)
    changed = checkerboard(42)
    object.__setattr__(changed, "dataset", "checkerboard")
    with pytest.raises(TimbreError, match="data changed since, retrain"):
        load_run(run, changed)


def test_delete_run_removes_the_row_and_both_files(
    store: Store, board: InteractionData, tmp_path: Path
) -> None:
    result = train_run(store, Settings(home=tmp_path), board, "ease", {"l2": 1.0})
    delete_run(store, result.run_id)
    assert not result.artifact.exists() and not sidecar_path(result.artifact).exists()
    assert store.list_model_runs() == []
    with pytest.raises(TimbreError, match="no model run"):
        delete_run(store, result.run_id)


def test_a_failed_registry_write_leaves_no_artifact(
    store: Store, board: InteractionData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> int:
        raise StorageError("database is locked")

    monkeypatch.setattr(store, "add_model_run", refuse)
    settings = Settings(home=tmp_path)
    with pytest.raises(StorageError):
        train_run(store, settings, board, "popularity")
    assert list(settings.artifacts_dir.iterdir()) == []


def test_a_missing_artifact_is_reported_not_crashed(
    store: Store, board: InteractionData, tmp_path: Path
) -> None:
    result = train_run(store, Settings(home=tmp_path), board, "popularity")
    result.artifact.unlink()
    with pytest.raises(StorageError, match="missing"):
        load_run(choose_run(store, "checkerboard"), board)


def test_invalid_parameters_are_refused_before_training(
    store: Store, board: InteractionData, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path)
    with pytest.raises(ValueError, match="'factors' must be >= 1"):
        train_run(store, settings, board, "als", {"factors": 0})
    with pytest.raises(ValueError, match="no parameter 'lambda'"):
        train_run(store, settings, board, "ease", {"lambda": 3})
    with pytest.raises(ValueError, match="weighting' must be one of"):
        train_run(store, settings, board, "als", {"weighting": "sqrt"})
    assert store.list_model_runs() == []
