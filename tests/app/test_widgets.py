"""Shared widgets: user-controlled text shown as text."""

from __future__ import annotations

import pytest

from timbre.app.widgets import WORD_JOINER, escape_markdown, plotly_text

J = WORD_JOINER


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (
            "![px](http://127.0.0.1:9/p.png)",
            rf"!\[px\](http{J}://127.0.0.1:9/p.png)",
        ),
        ("*bold* _it_ `code`", r"\*bold\* \_it\_ \`code\`"),
        (":red[alarm] $x$", rf":{J}red\[alarm\] \$x\$"),
        (":material/home: :smile:", f":{J}material/home: :{J}smile:"),
        ("www.example.com a@b.com", f"www{J}.example.com a@{J}b.com"),
        ("# heading", r"\# heading"),
        ("- item", r"\- item"),
        ("1. first", r"1\. first"),
        ("line1\n# line2\n2) two", "line1\n\\# line2\n2\\) two"),
        ("<b>html</b> &lt;b&gt; a|b ~~s~~", r"\<b\>html\</b\> \&lt;b\&gt; a\|b \~\~s\~\~"),
        ("Guns N' Roses", "Guns N' Roses"),
        ("AC/DC", "AC/DC"),
        ("Simon & Garfunkel (live): 2 rows!", "Simon & Garfunkel (live): 2 rows!"),
        ("unknown user: 'hetrec:user:1O'", "unknown user: 'hetrec:user:1O'"),
        ("@SUM(A1) x@y", "@SUM(A1) x@y"),
        (":skull: a :+1: :red-background[x]", f":{J}skull: a :{J}+1: :{J}red-background\\[x\\]"),
    ],
)
def test_markdown_is_escaped_and_plain_names_are_left_alone(raw: str, shown: str) -> None:
    assert escape_markdown(raw) == shown


def test_plotly_labels_keep_their_tags_as_text() -> None:
    assert plotly_text('<b>x</b> & <a href="u">') == '&lt;b&gt;x&lt;/b&gt; &amp; &lt;a href="u"&gt;'
    assert plotly_text("Guns N' Roses") == "Guns N' Roses"
