"""Shared fixtures: stores on SQLite and PostgreSQL, and a demo store built once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from timbre.config import Settings
from timbre.interactions import InteractionData
from timbre.services.data import load_data
from timbre.store import Store

IN_CI = os.environ.get("CI", "").lower() == "true"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _server_url() -> str:
    url = os.environ.get("TIMBRE_TEST_POSTGRES_URL")
    if not url:
        if IN_CI:
            pytest.fail(
                "CI=true but TIMBRE_TEST_POSTGRES_URL is not set: .ci/run must start "
                "PostgreSQL with scripts/start-test-postgres.sh"
            )
        pytest.skip(
            "no PostgreSQL server: set TIMBRE_TEST_POSTGRES_URL "
            "(e.g. $(bash scripts/start-test-postgres.sh))"
        )
    return url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    from benchmarks.bench_import_pg import fresh_database

    with fresh_database(_server_url(), prefix="timbre_t_") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file for one test."""
    return f"sqlite:///{tmp_path / 'timbre.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'timbre.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An empty store at the head revision, on SQLite and on PostgreSQL."""
    opened = Store.open(store_url)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Timbre home whose SQLite store holds the bundled demo (built once per session).

    Tests that write must copy it first (see ``tests/app/conftest.py``).
    """
    from timbre.sources.demo import load_demo

    home = tmp_path_factory.mktemp("demo-home")
    with Store.open(Settings(home=home)) as store:
        load_demo(store)
    return home


@pytest.fixture(scope="session")
def demo_data(demo_home: Path) -> InteractionData:
    """The demo's HetRec data set as the models see it (built once per session)."""
    from timbre.sources.demo import DEMO_DATASET

    with Store.open(Settings(home=demo_home)) as store:
        return load_data(store, DEMO_DATASET)


@pytest.fixture(scope="session")
def demo_als_home(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo with the default ALS run trained and active (built once per session).

    Tests that write must copy it first; the copies share the run's artifact (its path in the
    registry is absolute), so they must not delete runs.
    """
    import shutil

    from timbre.services.runs import train_run
    from timbre.sources.demo import DEMO_DATASET

    home = tmp_path_factory.mktemp("demo-als") / "home"
    shutil.copytree(demo_home, home)
    settings = Settings(home=home)
    with Store.open(settings) as store:
        train_run(store, settings, load_data(store, DEMO_DATASET), "als")
    return home
