"""AppTest fixtures: a fresh Timbre home per test (a copy of a demo store or an empty one)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every AppTest runs the frame and a page: seconds each, so all are ``slow``."""
    for item in items:
        if "tests/app/" in str(item.fspath).replace("\\", "/") and "test_widgets" not in str(
            item.fspath
        ):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _clear_streamlit_caches() -> Iterator[None]:
    """``st.cache_*`` outlive a test in one process; start and end each test with none."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def demo_app_home(demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the session's demo store, selected through TIMBRE_HOME."""
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    monkeypatch.setenv("TIMBRE_HOME", str(home))
    monkeypatch.delenv("TIMBRE_DATABASE_URL", raising=False)
    return home


@pytest.fixture
def als_home(demo_als_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the demo with the default ALS run active (what a presenter has),
    selected through TIMBRE_HOME; it shares the run's artifact, so tests must not delete runs."""
    home = tmp_path / "home"
    shutil.copytree(demo_als_home, home)
    monkeypatch.setenv("TIMBRE_HOME", str(home))
    monkeypatch.delenv("TIMBRE_DATABASE_URL", raising=False)
    return home


@pytest.fixture
def empty_app_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Timbre home: the app's first start."""
    home = tmp_path / "empty-home"
    monkeypatch.setenv("TIMBRE_HOME", str(home))
    monkeypatch.delenv("TIMBRE_DATABASE_URL", raising=False)
    return home


@pytest.fixture
def small_app_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with a little data (an empty one would load the demo on the first start),
    selected through TIMBRE_HOME."""
    from tests.test_store import listening_batch
    from timbre.config import load_settings
    from timbre.store import Store

    home = tmp_path / "small-home"
    monkeypatch.setenv("TIMBRE_HOME", str(home))
    monkeypatch.delenv("TIMBRE_DATABASE_URL", raising=False)
    with Store.open(load_settings()) as store:
        store.write_batch(listening_batch())
    return home
