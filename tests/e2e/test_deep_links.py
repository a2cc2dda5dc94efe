"""Real browser: a page's address opens that page as the first request, without Home first.

A bookmark (``/Tune``) or Spotify's sign-in redirect (``/Data?code=...&state=...``) is often the
first thing a freshly started server is asked for. Each case gets its own server process and a
fresh browser context, so the address is the first script run the process and the browser see
(Streamlit's "Page not found" dialog comes from exactly that first run).

Cause (Streamlit 1.67): with a ``pages/`` folder beside ``streamlit_app.py`` the first script
run of a server process goes through Streamlit's old pages-folder navigation, which knows the
files' own names (``tune``), not ``/Tune``: it sent "Page not found", then ran the frame, whose
``st.navigation`` opened the right page under the dialog. The page scripts now live in
``app_pages/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import assert_no_exception, streamlit_server, wait_for_app


@pytest.mark.parametrize(
    ("address", "title"),
    [("Tune", "Tune"), ("Data?code=x&state=y", "Data")],
    ids=["bookmark", "spotify-redirect"],
)
def test_a_page_address_as_the_first_request_opens_that_page(
    browser: Any, demo_home: Path, tmp_path: Path, address: str, title: str
) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    with streamlit_server(home) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            page.set_default_timeout(90_000)
            page.goto(f"{server.url}/{address}")
            wait_for_app(page)
            assert page.get_by_text("Page not found").count() == 0
            assert page.get_by_role("dialog").count() == 0
            heading = page.locator("h1").first
            assert heading.inner_text() == title
            assert heading.is_visible()
            # not inert behind a dialog: the sidebar's Home link works
            page.locator("[data-testid=stSidebarNav] a", has_text="Home").click(timeout=10_000)
            page.wait_for_url(f"{server.url}/")
            wait_for_app(page)
            assert_no_exception(page)
        finally:
            context.close()
