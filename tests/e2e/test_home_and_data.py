"""Real browser: first start loads the demo; Data shows its statistics; an upload imports."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.harness import assert_no_exception, open_page, wait_for_app
from timbre.sources.demo import SAMPLES_DIR


def metric(page: Any, label: str) -> str:
    box = page.locator("[data-testid=stMetric]", has_text=label).first
    return box.locator("[data-testid=stMetricValue]").inner_text()


def test_first_start_loads_the_demo_and_data_shows_its_statistics(app_server, page) -> None:
    page.goto(app_server.url)
    wait_for_app(page)
    assert_no_exception(page)
    assert "Timbre" in page.locator("h1").first.inner_text()
    assert metric(page, "Users") == "1,892"
    assert metric(page, "Items") == "17,632"
    assert metric(page, "Interactions") == "92,834"

    page.locator("[data-testid=stSidebarNav] a", has_text="Data").click()
    page.wait_for_url(re.compile(r"/Data$"))
    wait_for_app(page)
    assert_no_exception(page)
    assert page.locator("h1").first.inner_text() == "Data"
    assert metric(page, "Users") == "1,892"
    assert metric(page, "Artists") == "17,632"
    assert metric(page, "Interactions") == "92,834"
    charts = page.locator("[data-testid=stPlotlyChart]")
    charts.first.wait_for()
    assert charts.count() == 4
    # the top-artists chart shows real names
    page.locator("[data-testid=stPlotlyChart] svg text", has_text="Britney Spears").first.wait_for(
        state="attached"
    )


def test_uploading_a_spotify_export_shows_the_report(app_server, page) -> None:
    open_page(page, app_server.url, "Data")
    wait_for_app(page)
    sample = SAMPLES_DIR / "my_spotify_data.zip"
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(sample))
    page.get_by_role("textbox", name="User name (personal exports)").fill("presenter")
    page.get_by_role("button", name="Import").click()
    page.get_by_text("Imported into data set").wait_for()
    wait_for_app(page)
    assert_no_exception(page)
    assert metric(page, "Rows read") == "69"
    assert metric(page, "Accepted") == "56"
    assert page.get_by_text("play shorter than 30 s").count() >= 1


def test_a_bad_upload_shows_an_error_not_a_traceback(app_server, page, tmp_path) -> None:
    open_page(page, app_server.url, "Data")
    wait_for_app(page)
    bad = tmp_path / "plays.csv"
    bad.write_bytes(bytes(range(256)) * 16)
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(bad))
    page.get_by_role("button", name="Import").click()
    page.locator("[data-testid=stAlertContentError]").first.wait_for()
    wait_for_app(page)
    assert_no_exception(page)
    assert "not a text CSV" in page.locator("[data-testid=stAlertContentError]").first.inner_text()
