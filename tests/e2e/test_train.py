"""Real browser: train a model on the Train page and look at its similar items."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.harness import assert_no_exception, wait_for_app
from tests.models.test_hetrec import RELATED


def test_training_als_through_the_page(app_server: Any, page: Any) -> None:
    page.goto(app_server.url)
    wait_for_app(page)
    page.locator("[data-testid=stSidebarNav] a", has_text="Train").click()
    page.wait_for_url(re.compile(r"/Train$"))
    wait_for_app(page)
    assert_no_exception(page)
    assert page.locator("h1").first.inner_text() == "Train"
    factors = page.get_by_role("spinbutton", name="factors")
    factors.fill("48")
    factors.press("Tab")
    page.get_by_role("button", name="Train").click()
    page.get_by_text(re.compile(r"Run \d+: ALS \(matrix factorisation\) trained in")).wait_for()
    wait_for_app(page)
    assert_no_exception(page)
    # the registry, and the sanity check's similar items as a readable table
    assert page.locator("[data-testid=stDataFrame]").count() >= 1
    query = page.get_by_role("textbox", name="Artist or track")
    query.fill("Metallica")
    query.press("Enter")
    page.get_by_text(re.compile(r"Most similar in run \d+")).wait_for()
    wait_for_app(page)
    assert_no_exception(page)
    page.locator("[data-testid=stText]", has_text="Metallica").first.wait_for()
    similar = page.locator("[data-testid=stTable]").first.inner_text()
    related = [name for name in RELATED["Metallica"] if name in similar]
    assert len(related) >= 5, similar
