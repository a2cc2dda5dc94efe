"""Issue 16, item 6: a truncated, garbage, reshaped, NaN-filled or swapped model file is refused
at load with one line, never at scoring, never silently."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from timbre.config import Settings
from timbre.errors import StorageError
from timbre.interactions import InteractionData
from timbre.models import Recommender, create_model
from timbre.models.base import sidecar_path
from timbre.services.runs import serve_run, train_run
from timbre.store import Store


def _saved(board: InteractionData, tmp_path: Path) -> Path:
    return (
        create_model("als", {"factors": 4, "iterations": 3, "random_state": 0})
        .fit(board)
        .save(tmp_path / "als.npz")
    )


def _rewrite(path: Path, change: Any) -> None:
    """Rewrite the artifact's arrays through ``change`` and its sidecar to match (checksum and
    array list), as someone who knows the format would."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    change(arrays)
    np.savez(path, allow_pickle=False, **arrays)
    meta = json.loads(sidecar_path(path).read_text())
    if "sha256" in meta:
        meta["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        meta["arrays"] = {
            k: {"shape": list(v.shape), "dtype": v.dtype.str} for k, v in arrays.items()
        }
    sidecar_path(path).write_text(json.dumps(meta))


def _refused(path: Path, match: str, **kwargs: Any) -> str:
    with pytest.raises(StorageError, match=match) as caught:
        Recommender.load(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and "retrain" in message
    return message


def test_a_truncated_artifact_is_refused_in_one_line(
    board: InteractionData, tmp_path: Path
) -> None:
    path = _saved(board, tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _refused(path, "cannot read model artifact .*not a readable .npz")


def test_a_garbage_artifact_is_refused_in_one_line(board: InteractionData, tmp_path: Path) -> None:
    path = _saved(board, tmp_path)
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 40)  # a zip header, then noise
    _refused(path, "cannot read model artifact")


def test_factors_of_the_wrong_shape_are_refused_at_load(
    board: InteractionData, tmp_path: Path
) -> None:
    path = _saved(board, tmp_path)

    def drop_an_item(arrays: dict[str, Any]) -> None:
        arrays["state.item_factors"] = arrays["state.item_factors"][:-1]

    _rewrite(path, drop_an_item)
    _refused(path, "state that does not fit its items|scores")


def test_interaction_rows_that_do_not_fit_are_refused_at_load(
    board: InteractionData, tmp_path: Path
) -> None:
    path = _saved(board, tmp_path)

    def point_past_the_items(arrays: dict[str, Any]) -> None:
        arrays["user_items.indices"] = arrays["user_items.indices"] + 10_000

    _rewrite(path, point_past_the_items)
    _refused(path, "does not fit its own")


def test_nan_factors_are_refused_at_load(board: InteractionData, tmp_path: Path) -> None:
    path = _saved(board, tmp_path)

    def poison(arrays: dict[str, Any]) -> None:
        arrays["state.user_factors"] = arrays["state.user_factors"].copy()
        arrays["state.user_factors"][0, 0] = np.nan

    _rewrite(path, poison)
    _refused(path, "non-finite values .*state.user_factors")


def test_the_run_records_a_checksum_that_is_verified_when_it_is_served(
    board: InteractionData, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "home")
    with Store.open(settings) as store:
        made = train_run(store, settings, board, "als", {"factors": 4, "iterations": 2})
        run = next(r for r in store.list_model_runs() if r["id"] == made.run_id)
    assert run["checksum"] == hashlib.sha256(made.artifact.read_bytes()).hexdigest()
    serve_run(run, board)  # the file as saved: served

    def nudge(arrays: dict[str, Any]) -> None:  # finite, well-shaped, but not what was trained
        arrays["state.item_factors"] = arrays["state.item_factors"] * 1.01

    _rewrite(made.artifact, nudge)  # the sidecar is rewritten to match: only the run knows
    with pytest.raises(StorageError, match=r"not the file that was saved .*the run registry"):
        serve_run(run, board)
