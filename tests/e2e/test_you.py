"""Real browser: the You page end to end: a person, an upload, the list, a skip, the CSV."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pandas as pd

from tests.e2e.harness import assert_no_exception, wait_for_app
from tests.test_people import _scrobbles

PERSON = "e2eyou"


def _rows(page: Any) -> list[str]:
    """The list's item names, from the "1. name" lines beside the reaction buttons."""
    texts = page.locator("[data-testid=stText]").all_inner_texts()
    return [m.group(1) for t in texts if (m := re.match(r"^\d+\. (.+)$", t.strip()))]


def _ensure_model(page: Any) -> None:
    train = page.get_by_role("button", name="Train ALS now")
    if train.count():
        train.click()
        page.get_by_role("button", name="Download your list (CSV)").wait_for()
        wait_for_app(page)


def test_you_flow_upload_list_skip_and_download(app_server: Any, page: Any, tmp_path: Path) -> None:
    # a deep link as the very first request of an empty home says "Page not found" (the demo
    # loads before the navigation is built): start from Home, as a presenter does
    page.goto(app_server.url)
    wait_for_app(page)
    page.goto(f"{app_server.url}/You")
    wait_for_app(page)
    _ensure_model(page)
    assert_no_exception(page)
    box = page.get_by_role("textbox", name="Your id")
    box.fill(PERSON)
    box.press("Enter")
    wait_for_app(page)
    page.get_by_text("With no history and no questionnaire, you get popular items.").wait_for()

    csv = _scrobbles(tmp_path / "scrobbles.csv")
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(csv))
    page.get_by_text("scrobbles.csv").first.wait_for()  # uploaded before the form is sent
    page.get_by_role("button", name="Import for me").click()
    line = f"{PERSON}: 50 of 55 plays mapped onto 6 items of the model (1 account: lastfm:{PERSON})"
    page.get_by_text(line).wait_for()
    wait_for_app(page)
    assert_no_exception(page)
    before = _rows(page)
    assert len(before) == 10

    page.locator(".st-key-you_skip_1 button").click()
    page.get_by_text(f"skipped: {before[0]}", exact=True).wait_for()
    wait_for_app(page)
    assert_no_exception(page)
    after = _rows(page)
    assert len(after) == 10 and before[0] not in after

    with page.expect_download() as info:
        page.get_by_role("button", name="Download your list (CSV)").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert f"# person: {PERSON}" in header
    assert f"# feedback: you skipped {before[0]}" in header, header
    frame = pd.read_csv(io.StringIO(text), comment="#")
    assert frame["item_name"].tolist() == after
    assert set(frame["user_id"]) == {PERSON}
