"""End-to-end fixtures: one app server per session on a fresh home, a browser page per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import CHROMIUM, Server, chromium, streamlit_server

IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail(f"CI=true but Chromium is not installed at {CHROMIUM}")
        pytest.skip(f"Chromium not installed at {CHROMIUM} (apt-get install chromium)")
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="session")
def app_server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The app on an EMPTY home: its first start loads the bundled demo by itself."""
    home = tmp_path_factory.mktemp("e2e") / "home"
    with streamlit_server(home) as server:
        yield server


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(90_000)
    yield opened
    context.close()


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """Attach the server log to a failing end-to-end test."""
    if call.when == "call" and call.excinfo is not None and "app_server" in item.fixturenames:
        server = item.funcargs.get("app_server")  # type: ignore[attr-defined]
        if isinstance(server, Server):
            item.add_report_section("call", "streamlit log", server.log()[-5000:])


__all__ = ["Path"]
