"""Real browser: the app exposed without a presenter password is a read-only demo (imports and
training refused, Tune and downloads work); with one, the presenter unlocks a session."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.e2e.harness import Server, assert_no_exception, streamlit_server, wait_for_app
from timbre.config import Settings
from timbre.presenter import hash_password
from timbre.sources.demo import SAMPLES_DIR
from timbre.store import Store

PASSWORD = "lab-presenter"


def _home(demo_als_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("lab") / "home"
    shutil.copytree(demo_als_home, home)
    return home


@pytest.fixture(scope="module")
def demo_server(
    browser: Any, demo_als_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Listening on every interface, no presenter hash: the read-only demo."""
    with streamlit_server(_home(demo_als_home, tmp_path_factory), address="0.0.0.0") as server:
        yield server


@pytest.fixture(scope="module")
def presenter_server(
    browser: Any, demo_als_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """On loopback with a presenter hash configured (few iterations: a quick test)."""
    env = {"TIMBRE_PRESENTER_PASSWORD_HASH": hash_password(PASSWORD, iterations=20_000)}
    with streamlit_server(_home(demo_als_home, tmp_path_factory), env=env) as server:
        yield server


def _counts(server: Server) -> tuple[int, int]:
    """Interactions and model runs in the server's store."""
    with Store.open(Settings(home=server.log_path.parent / "home")) as store:
        return int(store.stats()["interactions"]), len(store.list_model_runs())


def _open(page: Any, server: Server, title: str) -> None:
    """Open a page through the sidebar (a page's own address opens a "Page not found" dialog
    over it in this Streamlit version; that is also so without this feature)."""
    if not page.url.startswith(server.url):
        page.goto(server.url)
        wait_for_app(page)
    page.locator("[data-testid=stSidebarNav] a", has_text=title).click()
    page.wait_for_url(re.compile(f"/{title}$"))
    wait_for_app(page)
    assert_no_exception(page)


def _upload_sample(page: Any) -> None:
    sample = SAMPLES_DIR / "my_spotify_data.zip"
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(sample))
    page.get_by_role("textbox", name="User name (personal exports)").fill("presenter")


def test_the_read_only_demo_refuses_writes_and_still_tunes_and_downloads(
    demo_server: Server, page: Any
) -> None:
    before = _counts(demo_server)
    _open(page, demo_server, "Data")
    sidebar = page.locator("[data-testid=stSidebar]")
    sidebar.get_by_text("Read-only demo: exposed without a presenter password").wait_for()
    assert sidebar.get_by_label("Presenter password").count() == 0
    page.get_by_text("so it cannot import").first.wait_for()
    importing = page.get_by_role("button", name="Import", exact=True)
    assert importing.is_disabled()
    assert page.locator("[data-testid=stFileUploaderDropzoneInput]").is_disabled()
    importing.click(force=True, timeout=5_000)  # a disabled button: nothing is sent
    _open(page, demo_server, "Train")
    page.get_by_text("so it cannot train, activate or delete models").wait_for()
    training = page.get_by_role("button", name="Train", exact=True)
    assert training.is_disabled()
    training.click(force=True, timeout=5_000)
    wait_for_app(page)
    assert page.get_by_text("trained in").count() == 0
    assert _counts(demo_server) == before

    _open(page, demo_server, "Tune")  # tuning is not a write
    page.get_by_text("Offline metrics, 300 held-out users").wait_for()
    bars = page.locator("[data-testid=stPlotlyChart]").first
    first = bars.inner_text()
    slider = page.locator("[data-testid=stSlider]", has_text="diversity").get_by_role("slider")
    slider.focus()
    for _ in range(12):
        slider.press("ArrowRight")
    page.wait_for_function(
        "old => document.querySelector('[data-testid=stPlotlyChart]')?.innerText !== old",
        arg=first,
    )
    wait_for_app(page)
    assert_no_exception(page)
    page.get_by_text("React to this list (like / skip / block)").click()
    assert page.get_by_role("button", name="Like").first.is_disabled()

    _open(page, demo_server, "Recommend")  # downloads are not writes
    with page.expect_download() as info:
        page.get_by_role("button", name="Download this list (CSV)").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# Timbre ")
    assert pd.read_csv(io.StringIO(text), comment="#")["rank"].tolist() == list(range(1, 11))
    assert page.get_by_role("button", name="Save this list").is_disabled()
    assert _counts(demo_server) == before


def test_the_presenter_unlocks_imports_with_the_right_password_only(
    presenter_server: Server, page: Any, browser: Any
) -> None:
    before = _counts(presenter_server)
    _open(page, presenter_server, "Data")
    page.get_by_text("unlock as presenter (in the sidebar) to import").first.wait_for()
    importing = page.get_by_role("button", name="Import", exact=True)
    assert importing.is_disabled()

    sidebar = page.locator("[data-testid=stSidebar]")
    box = sidebar.get_by_label("Presenter password")
    box.fill("lab-presenter!")
    sidebar.get_by_role("button", name="Unlock").click()
    sidebar.get_by_text("Wrong presenter password: still read-only.").wait_for()
    wait_for_app(page)
    assert importing.is_disabled()
    assert "lab-presenter" not in page.content()  # neither password is echoed

    box.fill(PASSWORD)
    sidebar.get_by_role("button", name="Unlock").click()
    sidebar.get_by_text("Unlocked as presenter").wait_for()
    wait_for_app(page)
    assert PASSWORD not in page.content()
    assert page.get_by_text("unlock as presenter (in the sidebar) to import").count() == 0
    assert not importing.is_disabled()
    _upload_sample(page)
    importing.click()
    page.get_by_text("Imported into data set").wait_for()
    wait_for_app(page)
    assert_no_exception(page)
    assert _counts(presenter_server)[0] == before[0] + 56  # the sample's accepted plays

    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:  # another browser session is still read-only
        second = other.new_page()
        second.set_default_timeout(90_000)
        _open(second, presenter_server, "Data")
        second.get_by_text("unlock as presenter (in the sidebar) to import").first.wait_for()
        assert second.get_by_role("button", name="Import", exact=True).is_disabled()
    finally:
        other.close()
