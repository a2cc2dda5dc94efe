"""Small readers for AppTest results (metrics by label, plotly specs)."""

from __future__ import annotations

import json
import re
from typing import Any

from streamlit.testing.v1 import AppTest

from tests.e2e.harness import ROOT
from timbre.app.widgets import WORD_JOINER

#: The frame every page runs in (``st.navigation``).
APP = str(ROOT / "streamlit_app.py")


def shown(markdown: object) -> str:
    """What the browser shows for a text passed through ``escape_markdown`` (an alert's or a
    caption's ``value``): without its backslash escapes and word joiners."""
    return re.sub(r"\\(.)", r"\1", str(markdown).replace(WORD_JOINER, ""), flags=re.DOTALL)


def app_test(path: str, timeout: float = 60, query: dict[str, str] | None = None) -> AppTest:
    """The app after one run of its frame (Home), switched to page ``path`` but not run yet.

    ``query`` is set as the address's query parameters before the first run.
    """
    at = AppTest.from_file(APP, default_timeout=timeout)
    if query:
        at.query_params.update(query)
    at.run()
    return at.switch_page(path)


def open_page(path: str, timeout: float = 60, query: dict[str, str] | None = None) -> AppTest:
    """:func:`app_test`, run on page ``path``."""
    return app_test(path, timeout, query).run()


def metric_values(at: AppTest) -> dict[str, list[str]]:
    """Every ``st.metric`` value by label, in page order."""
    values: dict[str, list[str]] = {}
    for metric in at.metric:
        values.setdefault(metric.label, []).append(metric.value)
    return values


def plotly_figures(at: AppTest) -> list[dict[str, Any]]:
    """The plotly figures on the page (AppTest returns them as UnknownElement protos)."""
    figures = []
    for element in at.get("plotly_chart"):
        figures.append(json.loads(element.proto.spec))
    return figures


def values(data: Any) -> list[Any]:
    """A plotly array from a figure spec: a plain list or a typed array (``dtype``/``bdata``)."""
    if isinstance(data, dict) and "bdata" in data:
        import base64

        import numpy as np

        array = np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"]))
        return array.tolist()
    return list(data)


def table_with(at: AppTest, *columns: str, without: str | None = None) -> Any:
    """The first ``st.dataframe`` or ``st.table`` holding all ``columns`` (and not ``without``).

    AppTest exposes a dataframe's key only when it has selections, so tables are found by their
    columns.
    """
    for frame in [*at.dataframe, *at.table]:
        value = frame.value
        if all(c in value.columns for c in columns) and (
            without is None or without not in value.columns
        ):
            return value
    raise KeyError(f"no table with columns {columns}")
