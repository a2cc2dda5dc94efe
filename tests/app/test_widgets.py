"""Shared widgets: user-controlled text shown as text."""

from __future__ import annotations

import pytest

from timbre.app.widgets import escape_markdown


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("![px](http://127.0.0.1:9/p.png)", r"\!\[px\]\(http\://127.0.0.1\:9/p.png\)"),
        ("*bold* _it_ `code`", r"\*bold\* \_it\_ \`code\`"),
        (":red[alarm] $x$", r"\:red\[alarm\] \$x\$"),
        ("# heading", r"\# heading"),
        ("- item", r"\- item"),
        ("1. first", r"1\. first"),
        ("<b>html</b>", r"\<b\>html\</b\>"),
        ("Guns N' Roses", "Guns N' Roses"),
        ("AC/DC", "AC/DC"),
    ],
)
def test_markdown_is_escaped_and_plain_names_are_left_alone(raw: str, shown: str) -> None:
    assert escape_markdown(raw) == shown
