"""Small shared widgets for the pages."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from timbre.models.base import ProgressCallback


def rate_text(rate: object) -> str:
    """A share as ``12.3%``, or ``n/a`` when there is nothing to share."""
    return f"{rate:.1%}" if isinstance(rate, int | float) else "n/a"


def metric_row(metrics: Sequence[tuple[str, str]]) -> None:
    """One row of ``st.metric`` boxes, one column each."""
    for column, (label, value) in zip(st.columns(len(metrics)), metrics, strict=True):
        column.metric(label, value)


def page_link(path: str, label: str) -> None:
    """A link to another page; a plain hint when the page cannot be linked (a page run on its
    own, as in tests, has no page registry)."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.page_link(path, label=label)
    except StreamlitAPIException:
        st.caption(f"{label}: open it from the sidebar.")


def progress_bar(label: str) -> ProgressCallback:
    """An ``st.progress`` bar and the callback that moves it: ``(fraction, message)``, the
    shape the models, the demo loader and the exports report progress in."""
    bar = st.progress(0.0, text=label)

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)

    return progress
