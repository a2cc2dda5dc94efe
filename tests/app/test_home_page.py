"""AppTest: the home page on the demo store and on a first start with an empty store."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, metric_values


def test_home_shows_the_demo_counts(demo_app_home: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    values = metric_values(at)
    assert values["Users"][0] == "1,892"
    assert values["Items"][0] == "17,632"
    assert values["Interactions"][0] == "92,834"
    assert any("hetrec-lastfm-2k" in t.value for t in at.text)
    assert not at.success  # nothing was loaded on this start


def test_first_start_loads_the_demo_and_says_so(empty_app_home: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert any("first start" in s.value for s in at.success)
    assert metric_values(at)["Users"][0] == "1,892"
    # a second run in the same session does not load again
    at.run()
    assert not at.exception
    assert metric_values(at)["Interactions"][0] == "92,834"


def test_unusable_database_is_an_error_not_a_traceback(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "not-a-db.sqlite"
    db.write_bytes(b"this is not a SQLite database, just text" * 100)
    monkeypatch.setenv("TIMBRE_DATABASE_URL", f"sqlite:///{db}")
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert at.error and "database" in at.error[0].value.lower()
