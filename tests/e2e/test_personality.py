"""Real browser: complete the Mini-IPIP on the Personality page and see the radar chart."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.harness import assert_no_exception, open_page, wait_for_app
from timbre import personality as pers


def test_completing_the_mini_ipip_shows_scores_and_radar(app_server: Any, page: Any) -> None:
    open_page(page, app_server.url, "Personality")
    wait_for_app(page)
    assert_no_exception(page)
    page.get_by_role("textbox", name="Listener").fill("browser-tester")
    page.get_by_role("textbox", name="Listener").press("Enter")
    wait_for_app(page)
    page.get_by_text("Mini-IPIP (20 items)").click()
    wait_for_app(page)
    instrument = pers.get_instrument("mini-ipip")
    for number, item in enumerate(instrument.items, start=1):
        group = page.get_by_role("radiogroup", name=f"{number}. {item.text}")
        group.get_by_text("4", exact=True).click()
    # the answers are a form: no click reran the page (issue 17: it answers fast)
    assert page.get_by_text(re.compile(r"^0 of 20 answered")).count() == 1
    page.get_by_role("button", name="Score and save").click()
    page.get_by_text(re.compile(r"Saved profile \d+ for browser-tester")).wait_for()
    wait_for_app(page)
    assert_no_exception(page)
    page.get_by_text("20 of 20 answered").wait_for()
    page.locator(
        "[data-testid=stPlotlyChart] .scatterlayer, [data-testid=stPlotlyChart] .polar"
    ).first.wait_for(state="attached")
    assert page.get_by_text("Favoured most").count() == 1
    # the trait tiles show their percentile in full (not cut to an ellipsis)
    tiles = page.locator("[data-testid=stMetricValue]")
    assert tiles.count() == 5
    for index in range(5):
        fits = tiles.nth(index).evaluate(
            "e => [...e.querySelectorAll('*')].concat([e])"
            ".every(x => x.scrollWidth <= x.clientWidth + 1)"
        )
        assert fits, tiles.nth(index).inner_text()
        assert re.fullmatch(r"\d{1,2}\.\d|100\.0", tiles.nth(index).inner_text().strip())
    # "driven by" says it is a contribution, with each attribute's own value
    assert page.get_by_text("driven by (contribution = value x weight)").count() == 2
    assert page.get_by_text(re.compile(r"\(value [+-]\d\.\d\d\)")).count() >= 10
