"""Typed session state shared by the pages, the cached store, the first-start demo load, guards.

Settings that more than one page uses (the data set, the weights, normalisation, the diversity
space, the cold-start schedule) live in one :class:`Shared` object per browser session, set up
by the frame. Widget keys are per page and prefixed by it; a widget that shows a shared setting
is seeded from :class:`Shared` before it is drawn (:func:`keep`), because Streamlit deletes a
widget's key once the widget is not drawn (another page is open).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd
import streamlit as st

from timbre.app.widgets import escape_markdown, progress_bar
from timbre.config import Settings, load_settings
from timbre.errors import TimbreError
from timbre.hybrid import DEFAULT_SCHEDULE, MMRSpace, Normalization, ScheduleRule, Weights
from timbre.hybrid.safety import APP_MIN_LISTENERS
from timbre.store import Store

log = logging.getLogger(__name__)

#: Where the shared state lives in ``st.session_state``.
STATE_KEY = "timbre"


@dataclass
class Shared:
    """What the pages of one browser session share.

    Attributes
    ----------
    dataset
        The data set the model pages work on (``None``: the demo's, or the first).
    weights
        The hybrid weights the Recommend page uses ("use these weights" on Tune sets them).
    weights_from_tune
        Whether ``weights`` came from the Tune page (else the default preset).
    tune_weights
        Where the Tune sliders stand (kept while another page is open, or the page stopped).
    normalization, space
        How components are scaled before fusion, and where the diversity bonus measures
        similarity (Tune sets them; Recommend and the exports use them).
    schedule
        The cold-start schedule as edited on Tune.
    schedule_on
        Whether the schedule applies (Tune's switch: off, every listener and persona gets the
        chosen weights, for tuning by hand).
    min_listeners, presenter_safe
        What every list of the app may show: items with at least this many listeners, and
        (on) none whose name holds a word of the presenter-safe blocklist
        (:mod:`timbre.hybrid.safety`).
    coefficients
        The personality prior's coefficient table of this session (the Personality page's
        what-if edits; ``None``: the shipped table). Every engine, list, export and metric of
        the session is built with it.
    demo_loaded_now
        The report lines of a first-start demo load (shown once on Home).
    """

    dataset: str | None = None
    weights: Weights = field(default_factory=Weights)
    weights_from_tune: bool = False
    tune_weights: Weights = field(default_factory=Weights)
    normalization: Normalization = "minmax"
    space: MMRSpace = "svd"
    schedule: tuple[ScheduleRule, ...] = DEFAULT_SCHEDULE
    schedule_on: bool = True
    min_listeners: int = APP_MIN_LISTENERS
    presenter_safe: bool = True
    coefficients: pd.DataFrame | None = None
    demo_loaded_now: list[str] | None = None


def init_state() -> Shared:
    """Set up this session's :class:`Shared` once (the frame calls it on every run)."""
    if not isinstance(st.session_state.get(STATE_KEY), Shared):
        st.session_state[STATE_KEY] = Shared()
    return shared()


def shared() -> Shared:
    """This session's shared state."""
    state = st.session_state.get(STATE_KEY)
    if not isinstance(state, Shared):  # a page run without the frame (never in the app)
        state = st.session_state[STATE_KEY] = Shared()
    return state


def keep(key: str, value: object) -> None:
    """Seed widget ``key`` with ``value`` (from :class:`Shared`) unless it already has one."""
    if key not in st.session_state:
        st.session_state[key] = value


def bound(key: str, attribute: str) -> dict[str, Any]:
    """Keyword arguments that bind a widget to a :class:`Shared` attribute: seeded from it,
    written back before the rerun when the widget changes (``st.radio(..., **bound(k, a))``)."""
    keep(key, getattr(shared(), attribute))
    return {"key": key, "on_change": _copy_to_shared, "args": (key, attribute)}


def _copy_to_shared(key: str, attribute: str) -> None:
    setattr(shared(), attribute, st.session_state[key])


def bump_data_version() -> None:
    """After a write from this session: drop the cached statistics at once (reads are keyed by
    :func:`store_version` anyway, which sees writes from anywhere)."""
    cached_stats.clear()
    cached_dataset_charts.clear()


@contextmanager
def guard() -> Iterator[None]:
    """Turn an expected failure (``TimbreError``) into ``st.error`` and stop the page. The
    message is shown as written: it often echoes a typed or imported name."""
    try:
        yield
    except TimbreError as exc:
        st.error(escape_markdown(exc))
        st.stop()


def stop() -> NoReturn:
    """``st.stop()`` typed as never returning."""
    st.stop()
    raise AssertionError("unreachable")  # pragma: no cover


def get_settings() -> Settings:
    """Settings from the environment and ``.streamlit/secrets.toml`` (read without Streamlit)."""
    return load_settings()


@st.cache_resource(show_spinner=False)
def _open_store(url: str, home: str) -> Store:
    return Store.open(Settings(home=Path(home), database_url=url))


def get_store() -> Store:
    """The store for this process (opened and migrated once, shared by sessions)."""
    settings = get_settings()
    with guard():
        return _open_store(settings.resolved_database_url, str(settings.home))
    stop()


def store_url() -> str:
    """The URL of the store (a cache key)."""
    return get_settings().resolved_database_url


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
        label = (
            "First start: loading the bundled demo data (HetRec Last.fm 2K and a Spotify "
            "catalogue; about 10 s, once)..."
        )
        with st.status(label, expanded=True) as status:
            progress = progress_bar("Loading...")
            with guard():
                reports = load_demo(store, progress=progress)
            status.update(label="Demo data loaded", state="complete", expanded=False)
    shared().demo_loaded_now = [r.summary() for r in reports]
    bump_data_version()


def store_version() -> str:
    """Where the store stands (:meth:`Store.state_token`): cached reads are keyed by it, so a
    write from anywhere (this session, another tab, the CLI) is seen on the next run."""
    with guard():
        return get_store().state_token()
    stop()


def dataset_version(dataset: str) -> str:
    """Where one data set stands (its id, creation and revision): the key of its cached reads."""
    with guard():
        return str(get_store().dataset_revision(dataset))
    stop()


@st.cache_data(show_spinner=False, max_entries=16)
def cached_stats(url: str, version: str) -> dict[str, Any]:
    """``store.stats()`` cached per store URL and :func:`store_version`."""
    return get_store().stats()


@dataclass(frozen=True)
class DatasetCharts:
    """The Data page's chart inputs for one data set."""

    plays: pd.Series
    top: pd.DataFrame
    genres: pd.DataFrame


@st.cache_data(show_spinner=False, max_entries=32)
def cached_dataset_charts(url: str, version: str, dataset: str) -> DatasetCharts:
    """The Data page's chart inputs for one data set, cached per :func:`dataset_version`."""
    store = get_store()
    return DatasetCharts(
        store.plays_per_user(dataset), store.top_items(dataset, 20), store.genre_mix(dataset)
    )


def stats() -> dict[str, Any]:
    """Current store statistics (cached until the next import)."""
    with guard():
        return cached_stats(store_url(), store_version())
    stop()


def dataset_charts(dataset: str) -> DatasetCharts:
    """:func:`cached_dataset_charts` for the data set as it stands."""
    with guard():
        return cached_dataset_charts(store_url(), dataset_version(dataset), dataset)
    stop()
