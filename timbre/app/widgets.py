"""Small shared widgets for the pages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from timbre.models.base import ProgressCallback


def rate_text(rate: object) -> str:
    """A share as ``12.3%``, or ``n/a`` when there is nothing to share."""
    return f"{rate:.1%}" if isinstance(rate, int | float) else "n/a"


def metric_row(metrics: Sequence[tuple[str, str]]) -> None:
    """One row of ``st.metric`` boxes, one column each."""
    for column, (label, value) in zip(st.columns(len(metrics)), metrics, strict=True):
        column.metric(label, value)


def progress_bar(label: str) -> ProgressCallback:
    """An ``st.progress`` bar and the callback that moves it: ``(fraction, message)``, the
    shape the models, the demo loader and the exports report progress in."""
    bar = st.progress(0.0, text=label)

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)

    return progress


#: Characters Markdown (and Streamlit's additions: ``:icon:``, ``:red[...]``, ``$LaTeX$``) acts on
#: anywhere in a line; and those it acts on at the start of a line (headings, lists, quotes).
_INLINE = re.compile(r"([\\`*_\[\]<>~$:|!{}()])")
_LEADING = re.compile(r"^(\s*)([#+\-=>])")
_ORDERED = re.compile(r"^(\s*\d+)([.)])")


def escape_markdown(text: object) -> str:
    """``text`` with every character Markdown would act on escaped, so it shows as written."""
    escaped = _INLINE.sub(r"\\\1", str(text))
    escaped = _ORDERED.sub(r"\1\\\2", escaped)
    return _LEADING.sub(r"\1\\\2", escaped)


def text_table(frame: pd.DataFrame) -> None:
    """``st.table`` of ``frame`` with every text cell shown as text (``st.table`` renders
    Markdown in cells, and item and user names come from imported data)."""
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype == object or pd.api.types.is_string_dtype(shown[column]):
            shown[column] = shown[column].map(escape_markdown)
    st.table(shown)


def persona_choice(container: Any, label: str, key: str) -> None:
    """A select box of the demo personas (real anonymous IPIP-50 responses) by name, in
    ``container`` (a column or the page); the chosen index is ``st.session_state[key]``."""
    from timbre import personality as pers

    names = [str(name) for name in pers.personas()["persona"]]
    container.selectbox(
        label, list(range(len(names))), index=2, format_func=names.__getitem__, key=key
    )
