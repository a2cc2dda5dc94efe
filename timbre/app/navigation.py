"""The app's pages, grouped as the sidebar shows them: one list for the frame and the home page."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.navigation.page import StreamlitPage


@dataclass(frozen=True)
class PageEntry:
    """One page: its file (relative to ``streamlit_app.py``), title, group and purpose.

    The files live in ``app_pages/``, never in a folder named ``pages`` beside the entrypoint:
    Streamlit (1.67) then runs a server's first script run through its old pages-folder
    navigation, which does not know ``/Tune`` and puts "Page not found" over a bookmark or the
    Spotify redirect (``tests/e2e/test_deep_links.py``).
    """

    path: str
    title: str
    group: str
    purpose: str
    icon: str


#: Every page, in sidebar order. The home page comes first and has no group.
PAGES: tuple[PageEntry, ...] = (
    PageEntry(
        "app_pages/home.py", "Home", "", "what is loaded, what to do next", ":material/home:"
    ),
    PageEntry(
        "app_pages/you.py",
        "You",
        "Data & people",
        "your own list: bring your listening, take the questionnaire, like / skip, export",
        ":material/person:",
    ),
    PageEntry(
        "app_pages/data.py",
        "Data",
        "Data & people",
        "load the demo, import exports, connect Last.fm and Spotify, statistics",
        ":material/database:",
    ),
    PageEntry(
        "app_pages/personality.py",
        "Personality",
        "Data & people",
        "Big Five questionnaire, scores, percentiles, the prior",
        ":material/psychology:",
    ),
    PageEntry(
        "app_pages/train.py",
        "Train",
        "Model",
        "train and evaluate recommenders, the run registry",
        ":material/model_training:",
    ),
    PageEntry(
        "app_pages/similarity.py",
        "Similarity",
        "Explore",
        "user-user and item-item heatmaps, maps, friends vs taste",
        ":material/grid_on:",
    ),
    PageEntry(
        "app_pages/tune.py",
        "Tune",
        "Explore",
        "live hybrid weights with live offline metrics",
        ":material/tune:",
    ),
    PageEntry(
        "app_pages/recommend.py",
        "Recommend",
        "Recommend",
        "lists with explanations, next track, groups, exports",
        ":material/queue_music:",
    ),
)


def navigation() -> StreamlitPage:
    """The grouped ``st.navigation`` over :data:`PAGES` (Home is the default page)."""
    groups: dict[str, list[StreamlitPage]] = {}
    for entry in PAGES:
        home = entry.path == PAGES[0].path
        # URLs keep the page titles (/Data, /Tune): bookmarks and the Spotify redirect address
        page = st.Page(
            entry.path,
            title=entry.title,
            icon=entry.icon,
            url_path=None if home else entry.title,
            default=home,
        )
        groups.setdefault(entry.group, []).append(page)
    return st.navigation(groups)


def page_link(path: str, label: str | None = None) -> None:
    """A link to one of :data:`PAGES` (by file), labelled with its title and purpose."""
    entry = next(e for e in PAGES if e.path == path)
    st.page_link(entry.path, label=label or f"{entry.title}: {entry.purpose}", icon=entry.icon)
