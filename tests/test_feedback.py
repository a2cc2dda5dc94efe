"""Feedback that changes the next list: like, skip, block, undo; shown and explained."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli_helpers import run_cli
from tests.test_people import _scrobbles
from tests.test_people import home as home  # the fixture
from timbre.config import Settings
from timbre.hybrid import Weights
from timbre.services.data import load_data
from timbre.services.engines import engine_for_run
from timbre.services.people import person_components
from timbre.services.runs import choose_run
from timbre.sources.demo import DEMO_DATASET
from timbre.store import Store


def _list(capsys: pytest.CaptureFixture[str], where: str, *extra: str) -> dict:
    code, out, err = run_cli(
        capsys, "--home", where, "recommend", "--user", "me", "-n", "20", "--json", *extra
    )
    assert code == 0, err
    return json.loads(out)


def _feedback(capsys: pytest.CaptureFixture[str], where: str, *argv: str) -> str:
    code, out, err = run_cli(capsys, "--home", where, "feedback", "--user", "me", *argv)
    assert code == 0, err
    return out


@pytest.mark.slow
def test_skip_block_like_and_undo_change_the_next_list(
    home: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    csv = _scrobbles(tmp_path / "scrobbles.csv")
    assert run_cli(capsys, "--home", home, "import", str(csv), "--user", "me")[0] == 0
    before = _list(capsys, home)["recommendations"]
    first, second = before[0]["item_id"], before[1]["item_id"]
    assert all(row["feedback"] == 0 for row in before)

    said = _feedback(capsys, home, "--skip", first, "--block", second)
    assert said.strip() == "me: recorded 1 skip, 1 block"
    after = _list(capsys, home)
    listed = [row["item_id"] for row in after["recommendations"]]
    assert first not in listed and second not in listed
    assert any(note.startswith("you skipped") for note in after["notes"])
    blocked_too = _list(capsys, home, "--include-seen")["recommendations"]
    assert second not in [row["item_id"] for row in blocked_too]  # blocked for good
    for row in after["recommendations"]:  # every part, feedback included, adds up
        parts = ("cf", "content", "personality", "novelty", "diversity_bonus", "feedback")
        assert sum(row[p] for p in parts) == pytest.approx(row["score"], abs=1e-4)

    assert _feedback(capsys, home, "--undo", "--skip", first, "--block", second).strip() == (
        "me: removed 1 skip, 1 block"
    )
    assert _list(capsys, home)["recommendations"] == before  # undo restores the list exactly
    _, out, _ = run_cli(capsys, "--home", home, "feedback", "--user", "me", "--json")
    assert json.loads(out) == {"user": "me", "liked": [], "skipped": [], "blocked": []}


@pytest.mark.slow
def test_a_skip_lowers_the_items_nearest_neighbours_and_likes_pull_a_genre_in(
    home: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    csv = _scrobbles(tmp_path / "scrobbles.csv")
    assert run_cli(capsys, "--home", home, "import", str(csv), "--user", "me")[0] == 0
    with Store.open(Settings(home=Path(home))) as store:
        data = load_data(store, DEMO_DATASET)
        engine = engine_for_run(store, data, choose_run(store, DEMO_DATASET))
        plain, _ = person_components(store, engine, "me")
        weights = Weights(cf=1.0, content=0.0, personality=0.0, novelty=0.0, diversity=0.0)
        skipped = engine.rank(plain, weights, 1).items[0]
        near, _ = engine.reason_space.nearest(int(skipped), 5)
        reacted = engine.with_feedback(plain, [], [int(skipped)], [])
        assert reacted.adjust is not None and np.all(reacted.adjust[near] < 0)
        assert np.count_nonzero(reacted.adjust) == 5  # only those five move
        top = engine.rank(reacted, weights, 20).items
        assert int(skipped) not in top.tolist()

        hiphop = _tagged(data, "hip-hop")
        base_share = np.isin(engine.rank(plain, weights, 20).items, hiphop).mean()
        liked = [data.items.id(data.find_item(name)) for name in ("Eminem", "Jay-Z", "50 Cent")]
        store.add_feedback("me", liked, "like", 1)
        after, _ = person_components(store, engine, "me")
    share = np.isin(engine.rank(after, weights, 20).items, hiphop).mean()
    assert share > base_share, (base_share, share)
    assert any(note.startswith("you liked Eminem, Jay-Z, 50 Cent") for note in after.notes)


def _tagged(data, tag: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    tags = data.item_meta["tags"]
    return np.flatnonzero([tag in (t or []) for t in tags])
