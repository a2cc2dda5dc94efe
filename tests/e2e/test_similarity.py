"""Real browser: the Similarity page draws the heatmap; a click on a row lists its neighbours."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.harness import assert_no_exception, wait_for_app


def test_heatmap_shows_names_and_a_click_selects_the_row(app_server: Any, page: Any) -> None:
    page.goto(app_server.url)
    wait_for_app(page)
    page.locator("[data-testid=stSidebarNav] a", has_text="Similarity").click()
    page.wait_for_url(re.compile(r"/Similarity$"))
    wait_for_app(page)
    assert_no_exception(page)
    assert page.locator("h1").first.inner_text() == "Similarity"
    heatmap = page.locator("[data-testid=stPlotlyChart]").first
    heatmap.locator(".heatmaplayer image").wait_for(state="attached")
    # the most popular artists, by name, in cluster order (no model needed: interaction cosine)
    tick = heatmap.locator("g.ytick text", has_text=re.compile(r"^Britney Spears$"))
    tick.wait_for(state="attached")
    assert heatmap.locator("g.ytick text").count() == 40
    tick.scroll_into_view_if_needed()
    row = tick.bounding_box()
    plot = heatmap.locator("rect.nsewdrag").first.bounding_box()
    x, y = plot["x"] + plot["width"] * 0.6, row["y"] + row["height"] / 2
    page.mouse.move(x, y)
    heatmap.locator(".hoverlayer text", has_text="Britney Spears").first.wait_for(state="attached")
    page.mouse.click(x, y)
    chooser = page.locator("[data-testid=stSelectbox]", has_text="Nearest neighbours of")
    chooser.locator('[value="Britney Spears"]').wait_for(state="attached")
    wait_for_app(page)
    assert_no_exception(page)
    # the distribution and the embedding map are drawn too
    assert page.locator("[data-testid=stPlotlyChart]").count() == 3
