"""One ranking path: the API's list equals ``timbre recommend --user X --json`` and the
Recommend page's for the same person, run and weights (and a person's own plays and feedback)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st

from tests.api.conftest import Live, serve
from tests.app.helpers import open_page, table_with
from tests.cli_helpers import run_cli
from timbre.config import Settings
from timbre.hybrid.tables import PARTS

#: What each front end shows of a row.
COMPARED = ["item_name", "score", *PARTS]


@pytest.fixture
def shared_home(
    demo_als_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path / "home"
    shutil.copytree(demo_als_home, home)
    monkeypatch.setenv("TIMBRE_HOME", str(home))
    monkeypatch.delenv("TIMBRE_DATABASE_URL", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield home
    st.cache_data.clear()
    st.cache_resource.clear()


def _rows(records: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [tuple(r[c] for c in COMPARED) for r in records]


@pytest.mark.parametrize("person", ["2", "hetrec:user:7"])
def test_the_api_the_cli_and_the_app_give_the_same_list(
    shared_home: Path, capsys: pytest.CaptureFixture[str], person: str
) -> None:
    # a reaction first, so that the list folds in feedback (the person path, not the row)
    code, _, err = run_cli(capsys, "--home", str(shared_home), "feedback", "--user", person,
                           "--skip", "Madonna")  # fmt: skip
    assert code == 0, err
    code, out, err = run_cli(capsys, "--home", str(shared_home), "recommend", "--user", person,
                             "--json")  # fmt: skip
    assert code == 0, err
    cli = json.loads(out)
    live: Live
    for live in serve(Settings(home=shared_home)):
        with live.client() as client:
            api = client.get(f"/v1/recommend/user/{person}").json()
    at = open_page("pages/recommend.py", 120)
    at.text_input(key="recommend_user").set_value(person)
    at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    app = table_with(at, "item_name", "because").to_dict("records")

    assert api["run_id"] == cli["run_id"] and api["weights"] == cli["weights"]
    assert [r["item_id"] for r in api["recommendations"]] == [
        r["item_id"] for r in cli["recommendations"]
    ]
    assert _rows(api["recommendations"]) == _rows(cli["recommendations"]) == _rows(app)
    assert len(app) == 10 and "Madonna" not in [r["item_name"] for r in app]
    assert any(r["feedback"] != 0 for r in api["recommendations"]) or api["notes"]
