"""Session state, the cached store, the first-start demo load and error guarding for pages."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from timbre.app.widgets import progress_bar
from timbre.config import REPO_ROOT, Settings, load_settings
from timbre.errors import TimbreError
from timbre.store import Store

log = logging.getLogger(__name__)

#: Every page of the app: (file, label, what it is for). The home page links to those present.
PAGES: tuple[tuple[str, str, str], ...] = (
    ("pages/1_Data.py", "Data", "load the demo, import exports, statistics"),
    ("pages/2_Personality.py", "Personality", "Big Five questionnaire, scores, percentiles"),
    ("pages/3_Train.py", "Train", "train and evaluate recommenders"),
    ("pages/4_Similarity.py", "Similarity", "user-user and item-item heatmaps"),
    ("pages/5_Tune.py", "Tune", "live hybrid weights with live offline metrics"),
    ("pages/6_Recommend.py", "Recommend", "recommendations with explanations, CSV export"),
)


def init_state() -> None:
    """Initialise the shared session keys once per browser session."""
    st.session_state.setdefault("data_version", 0)
    st.session_state.setdefault("demo_loaded_now", None)
    st.session_state.setdefault("dataset", None)
    st.session_state.setdefault("data_last_report", [])
    st.session_state.setdefault("data_flash", None)


def bump_data_version() -> None:
    """Mark the store as changed so cached reads are refreshed."""
    st.session_state["data_version"] = st.session_state.get("data_version", 0) + 1
    cached_stats.clear()
    cached_dataset_charts.clear()


@contextmanager
def guard() -> Iterator[None]:
    """Turn an expected failure (``TimbreError``) into ``st.error`` and stop the page."""
    try:
        yield
    except TimbreError as exc:
        st.error(str(exc))
        st.stop()


def get_settings() -> Settings:
    """Settings from the environment and ``.streamlit/secrets.toml`` (read without Streamlit)."""
    return load_settings()


@st.cache_resource(show_spinner=False)
def _open_store(url: str, home: str) -> Store:
    settings = Settings(home=Path(home), database_url=url)
    return Store.open(settings)


def get_store() -> Store:
    """The store for this process (opened and migrated once, shared by sessions)."""
    settings = get_settings()
    with guard():
        return _open_store(settings.resolved_database_url, str(settings.home))
    raise AssertionError("unreachable")  # pragma: no cover  (st.stop raises)


@st.cache_resource(show_spinner=False)
def _demo_lock(url: str) -> threading.Lock:
    """One lock per store and process, shared by every session."""
    return threading.Lock()


def ensure_demo(store: Store) -> None:
    """On first start (no data set at all), load the bundled demo and say so."""
    from timbre.sources.demo import load_demo

    if store.list_datasets():
        return
    # two browser tabs on a first start must not both load (the second would wait on the lock)
    with _demo_lock(store.url):
        if store.list_datasets():
            return
        with st.status("First start: loading the bundled demo data...", expanded=True) as status:
            progress = progress_bar("Loading...")

            with guard():
                reports = load_demo(store, progress=progress)
            status.update(label="Demo data loaded", state="complete", expanded=False)
    st.session_state["demo_loaded_now"] = [r.summary() for r in reports]
    bump_data_version()


@st.cache_data(show_spinner=False, max_entries=16)
def cached_stats(url: str, version: int) -> dict[str, Any]:
    """``store.stats()`` cached per store URL and data version."""
    return _open_store_by_url(url).stats()


@st.cache_data(show_spinner=False, max_entries=32)
def cached_dataset_charts(
    url: str, version: int, dataset: str
) -> dict[str, pd.DataFrame | pd.Series]:
    """The Data page's chart inputs for one data set, cached per data version."""
    store = _open_store_by_url(url)
    return {
        "plays": store.plays_per_user(dataset),
        "top": store.top_items(dataset, 20),
        "genres": store.genre_mix(dataset),
    }


def _open_store_by_url(url: str) -> Store:
    settings = get_settings()
    return _open_store(url, str(settings.home))


def stats() -> dict[str, Any]:
    """Current store statistics (cached until the next import)."""
    url = get_settings().resolved_database_url
    with guard():
        return cached_stats(url, st.session_state.get("data_version", 0))
    raise AssertionError("unreachable")  # pragma: no cover


def page_exists(path: str) -> bool:
    """Whether a page file is present (pages are added issue by issue)."""
    return (REPO_ROOT / path).is_file()
