"""Real browser: a slider on Tune changes the list and the metrics; a CSV from Recommend reads
back."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pandas as pd

from tests.e2e.harness import assert_no_exception, wait_for_app


def _metric(page: Any, label: str) -> str:
    box = page.locator("[data-testid=stMetric]", has_text=label).first
    return box.locator("[data-testid=stMetricValue]").inner_text()


def _ensure_model(page: Any) -> None:
    train = page.get_by_role("button", name="Train ALS now")
    if train.count():
        train.click()
        page.get_by_text("Offline metrics, 300 held-out users").or_(
            page.get_by_text("Download this list (CSV)")
        ).first.wait_for()
        wait_for_app(page)


def test_moving_a_slider_on_tune_changes_the_list_and_metrics(app_server: Any, page: Any) -> None:
    page.goto(f"{app_server.url}/Tune")
    wait_for_app(page)
    _ensure_model(page)
    assert_no_exception(page)
    page.get_by_text("Offline metrics, 300 held-out users").wait_for()
    before = _metric(page, "Diversity"), _metric(page, "NDCG@10")
    bars_before = page.locator("[data-testid=stPlotlyChart]").first.inner_text()
    slider = page.locator("[data-testid=stSlider]", has_text="diversity").get_by_role("slider")
    slider.focus()
    for _ in range(12):  # 0.05 -> 0.65 in steps of 0.05
        slider.press("ArrowRight")
    wait_for_app(page)
    page.wait_for_function(
        "([label, old]) => [...document.querySelectorAll('[data-testid=stMetric]')]"
        ".some(m => m.innerText.includes(label) && !m.innerText.includes(old))",
        arg=["Diversity", before[0]],
    )
    assert_no_exception(page)
    assert (_metric(page, "Diversity"), _metric(page, "NDCG@10")) != before
    assert page.locator("[data-testid=stPlotlyChart]").first.inner_text() != bars_before


def test_downloading_a_csv_from_recommend_reads_back(app_server: Any, page: Any) -> None:
    page.goto(f"{app_server.url}/Recommend")
    wait_for_app(page)
    _ensure_model(page)
    assert_no_exception(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download this list (CSV)").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# Timbre recommendations")
    frame = pd.read_csv(io.StringIO(text), comment="#")
    assert list(frame.columns[:6]) == ["user_id", "rank", "item_id", "item_name", "artist", "score"]
    assert frame["rank"].tolist() == list(range(1, 11))
    assert re.match(r"hetrec:user:\d+", frame["user_id"][0])
