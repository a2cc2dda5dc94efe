"""The frame: every page of the navigation opens without an exception (the smoke test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.helpers import open_page
from timbre.app.navigation import PAGES

ROOT = Path(__file__).resolve().parents[2]


def test_every_page_file_is_in_the_navigation() -> None:
    listed = {entry.path for entry in PAGES}
    on_disk = {f"app_pages/{p.name}" for p in (ROOT / "app_pages").glob("*.py")}
    assert listed == on_disk
    assert PAGES[0].title == "Home" and PAGES[0].path == "app_pages/home.py"
    # a pages/ folder beside the entrypoint breaks deep links on a server's first run
    assert not (ROOT / "pages").exists()


@pytest.mark.parametrize("entry", PAGES, ids=lambda e: e.title)
def test_every_page_opens_without_an_exception(demo_app_home: Path, entry: object) -> None:
    at = open_page(entry.path, 120)  # type: ignore[attr-defined]
    assert not at.exception, [e.value for e in at.exception]
    assert at.title and at.title[0].value in (entry.title, "Timbre")  # type: ignore[attr-defined]
