"""A data set without audio features, tags or genres (plain ``user,item,count`` rows) still gets
recommendations: CF, popularity, novelty and personality; the content component says it is not
available instead of stopping the list (it stopped every ``recommend``, cf-only included)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.cli_helpers import run_cli
from timbre import hybrid
from timbre.hybrid import CONTENT_NOT_AVAILABLE, HybridEngine, Weights
from timbre.interactions import InteractionData
from timbre.models import create_model


def _plain(n_users: int = 60, n_items: int = 40, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        (f"u{u}", f"i{i}", int(rng.integers(1, 20)))
        for u in range(n_users)
        for i in rng.choice(n_items, size=8, replace=False)
    ]
    return pd.DataFrame(rows, columns=["user_key", "item_key", "weight"])


@pytest.fixture(scope="module")
def engine() -> HybridEngine:
    frame = _plain()
    items = pd.DataFrame({"key": sorted(frame["item_key"].unique())})
    data = InteractionData.from_frames(frame, items, "plain")
    model = create_model("als", {"factors": 8, "iterations": 3}).fit(data)
    return HybridEngine(data, model)


@pytest.mark.parametrize("weights", [hybrid.preset("cf-only"), Weights()])
def test_a_list_without_content_says_so(engine: HybridEngine, weights: Weights) -> None:
    ranking = engine.rank(engine.components_for_user(0), weights, 10)
    assert len(ranking.items) == 10
    assert CONTENT_NOT_AVAILABLE in ranking.notes
    assert not np.any(ranking.contributions["content"])


def test_a_new_listener_and_similar_items_without_content(engine: HybridEngine) -> None:
    row = engine.data.user_items[0]
    assert len(engine.rank(engine.components_for_row(row), Weights(), 5).items) == 5
    items, _ = engine.similar(0, 5)  # CF similarity alone
    assert len(items) == 5
    with pytest.raises(ValueError, match="content: not available"):
        engine.similar(0, 5, use_cf=False)


def test_cli_recommends_and_exports_a_plain_csv_data_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "plays.csv"
    _plain().rename(columns={"user_key": "user", "item_key": "item", "weight": "count"}).to_csv(
        source, index=False
    )
    home = ["--home", str(tmp_path / "home")]
    code, _, err = run_cli(capsys, *home, "import", str(source), "--dataset", "plain")
    assert code == 0, err
    code, _, err = run_cli(
        capsys, *home, "train", "--model", "als", "--dataset", "plain", "--param", "factors=8"
    )
    assert code == 0, err
    for preset in ("cf-only", "default"):
        code, out, err = run_cli(
            capsys, *home, "recommend", "--dataset", "plain", "--user", "u1", "--preset", preset
        )
        assert code == 0, err
        assert "1. " in out
    target = tmp_path / "all.csv"
    code, _, err = run_cli(
        capsys, *home, "recommend", "--dataset", "plain", "--all-users", "-n", "5",
        "--out", str(target),
    )  # fmt: skip
    assert code == 0, err
    assert f"# {CONTENT_NOT_AVAILABLE}" in target.read_text(encoding="utf-8").splitlines()
    exported = pd.read_csv(target, comment="#")
    assert exported["user_id"].nunique() == 60 and (exported["content"] == 0).all()
