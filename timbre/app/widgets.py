"""Small shared widgets for the pages."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st


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
