"""A fresh tab after a write from elsewhere (the CLI, another tab) shows current counts
(issue 19, item 7): the app's cached reads are keyed by where the store stands, not by a
per-session counter that a new session starts at 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.app.helpers import metric_values, open_page, table_with
from timbre.sources.demo import SAMPLES_DIR

LASTFM = SAMPLES_DIR / "lastfm-presenter.csv"


def _cli(home: Path, *args: str) -> None:
    command = [sys.executable, "-m", "timbre", "--home", str(home), *args]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def test_a_fresh_tab_sees_a_cli_import(demo_app_home: Path) -> None:
    before = open_page("pages/home.py", 30)
    assert not before.exception
    assert "lastfm-export" not in " ".join(t.value for t in before.text)
    _cli(demo_app_home, "import", str(LASTFM), "--user", "presenter")
    home = open_page("pages/home.py", 30)  # a new browser session in the same server process
    assert not home.exception
    assert any("lastfm-export" in t.value for t in home.text)
    data = open_page("pages/data.py", 60)
    assert not data.exception
    assert "lastfm-export" in set(table_with(data, "data set")["data set"])


def test_the_data_page_counts_follow_a_cli_write(demo_app_home: Path) -> None:
    at = open_page("pages/data.py", 60)
    users = metric_values(at)["Users"][0]
    _cli(demo_app_home, "import", str(LASTFM), "--user", "presenter")
    at.run()  # the same session, next run (e.g. any click)
    assert not at.exception
    assert metric_values(at)["Users"][0] != users
