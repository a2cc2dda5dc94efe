"""Real browser: a slider on Tune changes the list and the metrics; a CSV from Recommend reads
back."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pandas as pd

from tests.e2e.harness import assert_no_exception, open_page, wait_for_app


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
    open_page(page, app_server.url, "Tune")
    wait_for_app(page)
    _ensure_model(page)
    assert_no_exception(page)
    page.get_by_text("Offline metrics, 300 held-out users").wait_for()
    before = _metric(page, "ILD (binary)"), _metric(page, "NDCG@10")
    bars_before = page.locator("[data-testid=stPlotlyChart]").first.inner_text()
    slider = page.locator("[data-testid=stSlider]", has_text="diversity").get_by_role("slider")
    slider.focus()
    for _ in range(12):  # 0.05 -> 0.65 in steps of 0.05
        slider.press("ArrowRight")
    wait_for_app(page)
    page.wait_for_function(
        "([label, old]) => [...document.querySelectorAll('[data-testid=stMetric]')]"
        ".some(m => m.innerText.includes(label) && !m.innerText.includes(old))",
        arg=["ILD (binary)", before[0]],
    )
    assert_no_exception(page)
    assert (_metric(page, "ILD (binary)"), _metric(page, "NDCG@10")) != before
    assert page.locator("[data-testid=stPlotlyChart]").first.inner_text() != bars_before


def test_downloading_a_csv_from_recommend_reads_back(app_server: Any, page: Any) -> None:
    open_page(page, app_server.url, "Recommend")
    wait_for_app(page)
    _ensure_model(page)
    assert_no_exception(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download this list (CSV)").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# Timbre ") and "recommendations" in text.splitlines()[0]
    frame = pd.read_csv(io.StringIO(text), comment="#")
    assert list(frame.columns[:6]) == ["user_id", "rank", "item_id", "item_name", "artist", "score"]
    assert frame["rank"].tolist() == list(range(1, 11))
    assert re.match(r"hetrec:user:\d+", frame["user_id"][0])


def _caption(page: Any) -> str:
    return page.locator("[data-testid=stCaptionContainer]", has_text="Weights (").first.inner_text()


def test_tunes_settings_follow_to_recommend_and_survive_a_rerun(app_server: Any, page: Any) -> None:
    """Regression (issue 12): Recommend lost the normalisation and space chosen on Tune."""
    open_page(page, app_server.url, "Tune")
    wait_for_app(page)
    _ensure_model(page)
    page.get_by_text("Offline metrics, 300 held-out users").wait_for()
    nav = page.locator("[data-testid=stSidebarNav]")
    assert nav.get_by_text("Home", exact=True).count() == 1
    assert "streamlit app" not in nav.inner_text().lower()
    page.get_by_text("Normalisation and diversity space").click()
    page.get_by_text("zscore", exact=True).click()
    wait_for_app(page)
    page.get_by_text("content (audio features, tags, genres), cosine").click()
    wait_for_app(page)
    page.get_by_role("button", name="Use these weights on the Recommend page").click()
    page.get_by_text("Weights saved for the Recommend page.").wait_for()
    nav.get_by_role("link", name="Recommend").click()
    page.wait_for_url(re.compile(r"/Recommend$"))
    wait_for_app(page)
    assert_no_exception(page)
    caption = _caption(page)
    assert "from the Tune page" in caption, caption
    assert "Normalisation zscore" in caption and "diversity space content" in caption, caption
    # a rerun of the page (a widget change) keeps them
    page.get_by_text("Group", exact=True).click()
    wait_for_app(page)
    assert_no_exception(page)
    caption = _caption(page)
    assert "Normalisation zscore" in caption and "diversity space content" in caption, caption
