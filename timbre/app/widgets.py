"""Small shared widgets for the pages."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from timbre.models.base import ProgressCallback


def rate_text(rate: object) -> str:
    """A share as ``12.3%``, or ``n/a`` when there is nothing to share."""
    return f"{rate:.1%}" if isinstance(rate, int | float) else "n/a"


def metric_row(metrics: Sequence[tuple[str, str]]) -> None:
    """One row of ``st.metric`` boxes, one column each (labels shown as written)."""
    for column, (label, value) in zip(st.columns(len(metrics)), metrics, strict=True):
        column.metric(escape_markdown(label), value)


def progress_bar(label: str) -> ProgressCallback:
    """An ``st.progress`` bar and the callback that moves it: ``(fraction, message)``, the
    shape the models, the demo loader and the exports report progress in."""
    bar = st.progress(0.0, text=escape_markdown(label))

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=escape_markdown(message))

    return progress


#: Characters Markdown acts on anywhere in a line (emphasis, code, links and images, raw HTML,
#: strikethrough, tables, Streamlit's ``$LaTeX$``; ``&`` when it starts an entity); and those it
#: acts on at the start of a line (headings, lists, quotes, setext underlines, ordered lists).
_INLINE = re.compile(r"([\\`*_\[\]<>~$|]|&(?=#?\w+;))")
_LEADING = re.compile(r"^(\s*)([#+\-=>])", re.MULTILINE)
_ORDERED = re.compile(r"^(\s*\d+)([.)])", re.MULTILINE)
#: Where Streamlit's Markdown acts on text after backslash escapes are resolved, so that a
#: backslash cannot stop it: GFM's bare links (``http://``, ``www.``, ``name@host.org``) and
#: Streamlit's ``:material/icon:``, ``:red[...]`` and ``:emoji:`` (the last only where a word does
#: not run into it: ids such as ``hetrec:user:2`` stay exactly as typed, for copying). An
#: invisible WORD JOINER goes in after the ``http``, ``www``, ``@`` or ``:`` instead.
_UNLINK = re.compile(
    r"(?i)(\b(?:https?|ftp|mailto|xmpp)(?=:)|\bwww(?=\.)|(?<=[\w.+-])@(?=[\w-]+\.)"
    r"|:(?=material/|[a-z]+(?:-[a-z]+)*\[)|(?<!\w):(?=[\w+-]+:))"
)
WORD_JOINER = "\u2060"


def escape_markdown(text: object) -> str:
    """``text`` shown as written where Streamlit renders Markdown: alerts, captions, widget
    labels, progress and spinner texts, ``st.table`` cells (:func:`text_table`), and
    :func:`timbre.app.state.guard`'s errors. For every user-controlled string there.

    Every line is escaped alike (a name's newline cannot start a heading); bare URLs, e-mail
    addresses and Streamlit's ``:...:`` codes get an invisible word joiner so that they stay
    text. Plain names (``AC/DC``, ``Guns N' Roses``) and ids are left alone.
    """
    escaped = _INLINE.sub(r"\\\1", _UNLINK.sub(rf"\1{WORD_JOINER}", str(text)))
    escaped = _ORDERED.sub(r"\1\\\2", escaped)
    return _LEADING.sub(r"\1\\\2", escaped)


def plotly_text(text: object) -> str:
    """``text`` for a Plotly label, title, legend or hover text, shown as written: Plotly acts on
    its own tags there (``<b>``, ``<a href>``, ``<br>``), and decodes ``&lt;`` ``&gt;`` ``&amp;``.
    """
    return html.escape(str(text), quote=False)


def plotly_texts(texts: Iterable[object]) -> list[str]:
    """:func:`plotly_text` of each of ``texts``."""
    return [plotly_text(text) for text in texts]


def text_table(frame: pd.DataFrame, where: Any = st) -> None:
    """``st.table`` of ``frame`` in ``where`` (a column, or the page) with every text cell shown
    as text (``st.table`` renders Markdown in cells, and item and user names come from imported
    data)."""
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype == object or pd.api.types.is_string_dtype(shown[column]):
            shown[column] = shown[column].map(escape_markdown)
    where.table(shown)


def persona_choice(container: Any, label: str, key: str) -> None:
    """A select box of the demo personas (real anonymous IPIP-50 responses) by name, in
    ``container`` (a column or the page); the chosen index is ``st.session_state[key]``."""
    from timbre import personality as pers

    names = [str(name) for name in pers.personas()["persona"]]
    container.selectbox(
        label, list(range(len(names))), index=2, format_func=names.__getitem__, key=key
    )


#: How a questionnaire answer reads (the IPIP's five-point scale).
ANSWER_LABELS = {1: "1 disagree", 2: "2", 3: "3 neutral", 4: "4", 5: "5 agree"}


def questionnaire_items(instrument: Any, prefix: str) -> None:
    """One horizontal five-point radio per item of ``instrument``, unanswered until chosen;
    item ``code``'s answer is ``st.session_state[f"{prefix}_{code}"]``. Draw it inside a form so
    that a click runs nothing."""
    for number, item in enumerate(instrument.items, start=1):
        st.radio(
            f"{number}. {item.text}",
            list(ANSWER_LABELS),
            index=None,
            format_func=ANSWER_LABELS.get,
            horizontal=True,
            key=f"{prefix}_{item.code}",
        )
